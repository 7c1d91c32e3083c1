"""A finding accepted in one test and judged in the next: the first examination skips its trial
index (every read is accepted), the second test examines the statement again and creates the
trial index inside its own transaction, after a write, with a sequence in use. Neither test nor
the database afterwards may tell."""

import pytest
from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE visits (id serial PRIMARY KEY, city text NOT NULL);
        -- autovacuum would hide a pg_class change from the comparison: kept away
        ALTER TABLE visits SET (autovacuum_enabled = false);
        INSERT INTO visits (city) SELECT 'city ' || (n % 7) FROM generate_series(1, 50) AS n;
    """,
    # The second test's finding is a warning, ignored: the outcomes stay comparable.
    "steps": [["--dbguard-seqscan=warn", "-W", "ignore:Missing index"]],
}

READ = "SELECT id FROM visits WHERE city = :city ORDER BY id"


@pytest.mark.allow_seqscan("visits")
def test_accepted(db, observe):
    observe("ids", db.begin(lambda conn: conn.execute(text(READ), {"city": "city 3"}).all()))


def test_judged_inside_a_transaction(db, observe):
    def run(conn):
        added = conn.execute(text("INSERT INTO visits (city) VALUES ('city 3') RETURNING id"))
        ids = conn.execute(text(READ), {"city": "city 3"}).all()
        with conn.begin_nested():
            conn.execute(text("INSERT INTO visits (city) VALUES ('city 4')"))
        return [added.scalar(), ids, conn.execute(text("SELECT count(*) FROM visits")).scalar()]

    observe("seen", db.begin(run))


def test_afterwards(db, observe):
    observe(
        "indexes",
        db.connect(
            lambda conn: conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'visits' ORDER BY 1")
            ).all()
        ),
    )
