"""Issue 10, item 8, with default options: a sequential scan the test allows is still judged,
and the plugin ANALYZEs the table inside its savepoint to judge it on real row counts. The
rollback leaves pg_class (reltuples, relpages) and the analyze counters changed: a later test's
plans change because an earlier test ran."""

import json

import pytest
from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE people (id integer PRIMARY KEY, city text NOT NULL);
        ALTER TABLE people SET (autovacuum_enabled = false);
        INSERT INTO people SELECT n, 'city ' || (n % 9) FROM generate_series(1, 2000) AS n;
    """,
}


@pytest.mark.allow_seqscan("people")
def test_allowed_scan(db):
    db.connect(lambda conn: conn.execute(text("SELECT id FROM people WHERE city = 'city 3'")).all())


def test_planner_estimate_afterwards(db, observe):
    def estimate(conn):
        document = conn.execute(
            text("EXPLAIN (FORMAT JSON) SELECT * FROM people WHERE city = 'city 4'")
        ).scalar()
        if isinstance(document, str):
            document = json.loads(document)
        return document[0]["Plan"]["Plan Rows"]

    observe("estimated rows", db.connect(estimate))
