"""Issue 10, item 3: several statements in one text().

EXPLAIN prefixed to the whole text runs the trailing statements inside the plugin's savepoint:
the rollback undoes their rows but not their sequence values, and a trailing COMMIT commits the
test's transaction. (asyncpg refuses several statements with parameters: both runs fail alike.)
"""

from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
        CREATE TABLE ledger (id integer PRIMARY KEY, amount text NOT NULL);
        INSERT INTO ledger VALUES (1, '0');
    """,
}


def test_two_inserts_in_one_text(db, observe):
    def run(conn):
        try:
            conn.execute(
                text("INSERT INTO notes (body) VALUES ('a'); INSERT INTO notes (body) VALUES ('b')")
            )
        except exc.DBAPIError as error:
            return type(error.orig).__name__
        return conn.execute(text("SELECT id, body FROM notes ORDER BY id")).all()

    observe("result", repr(db.begin(run)))


def test_trailing_commit_after_a_failing_statement(db, observe):
    def run(conn):
        conn.execute(text("INSERT INTO ledger VALUES (2, 'uncommitted')"))
        try:
            conn.execute(text("SELECT 1 / amount::integer FROM ledger WHERE id = 1; COMMIT"))
        except exc.DBAPIError as error:
            conn.rollback()
            return type(error.orig).__name__
        return "no error"

    observe("error", db.connect(run))
    observe(
        "rows", db.connect(lambda conn: conn.execute(text("SELECT count(*) FROM ledger")).scalar())
    )
