"""Trial indexes in every transaction state: a filter no index serves, judged (not accepted), so
the plugin creates the index it would suggest and plans again inside its probe — in the test's
transaction, on an autocommit connection (the probe's own transaction), and inside a savepoint
of the test's. Each test filters another column (a verdict is reused across tests: each needs
its own trial). Rows, sequences, indexes, pg_class and the statistics must be as without it."""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE places (
            id serial PRIMARY KEY, city text NOT NULL, street text NOT NULL, zip text NOT NULL
        );
        ALTER TABLE places SET (autovacuum_enabled = false);
        INSERT INTO places (city, street, zip)
        SELECT 'city ' || (n % 7), 'street ' || (n % 11), 'zip ' || (n % 13)
        FROM generate_series(1, 60) AS n;
    """,
    # The findings are warnings, ignored: the outcomes stay comparable.
    "steps": [["--dbguard-seqscan=warn", "-W", "ignore:Missing index"]],
}


def indexes(conn):
    query = "SELECT indexname FROM pg_indexes WHERE tablename = 'places' ORDER BY 1"
    return [row[0] for row in conn.execute(text(query))]


def test_trial_in_the_tests_transaction(db, observe):
    def run(conn):
        added = conn.execute(text("INSERT INTO places (city, street, zip) VALUES ('c', 's', 'z')"))
        ids = conn.execute(
            text("SELECT id FROM places WHERE city = :c ORDER BY id"), {"c": "city 3"}
        )
        return [added.rowcount, [row[0] for row in ids], indexes(conn)]

    observe("seen", db.begin(run))


def test_trial_on_an_autocommit_connection(db, observe):
    def run(conn):
        ids = conn.execute(
            text("SELECT id FROM places WHERE street = :s ORDER BY id"), {"s": "street 4"}
        )
        return [[row[0] for row in ids], indexes(conn)]

    observe("seen", db.connect(run, isolation_level="AUTOCOMMIT"))


def test_trial_inside_a_savepoint_of_the_test(db, observe):
    def run(conn):
        with conn.begin_nested():
            conn.execute(text("INSERT INTO places (city, street, zip) VALUES ('d', 't', 'y')"))
            ids = conn.execute(
                text("SELECT id FROM places WHERE zip = :z ORDER BY id"), {"z": "zip 5"}
            )
            seen = [[row[0] for row in ids], indexes(conn)]
        return [*seen, conn.execute(text("SELECT count(*) FROM places")).scalar()]

    observe("seen", db.begin(run))


def test_afterwards(db, observe):
    observe("indexes", db.connect(indexes))
