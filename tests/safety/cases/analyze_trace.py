"""Issue 10, item 8: ANALYZE inside the plugin's rolled-back savepoint still updates pg_class
(reltuples, relpages) in place, and the analyze counters: later tests' plans change because an
earlier test's plans were checked. The harness compares pg_class and pg_stat_user_tables; the
second test reads the planner's estimate."""

import json

from sqlalchemy import text

SAFETY = {
    "steps": [
        [
            "--dbguard-plans",
            "--dbguard-update",
            "--dbguard-report=report.md",
            "--dbguard-json=report.json",
        ],
        ["--dbguard-plans"],
    ],
    "seed": """
        CREATE TABLE events (id integer PRIMARY KEY, kind text NOT NULL);
        ALTER TABLE events SET (autovacuum_enabled = false);
        INSERT INTO events SELECT n, 'kind ' || (n % 7) FROM generate_series(1, 2000) AS n;
    """,
}


def test_reads_one_event(db):
    db.connect(lambda conn: conn.execute(text("SELECT kind FROM events WHERE id = 5")).all())


def test_planner_estimate_afterwards(db, observe):
    def estimate(conn):
        document = conn.execute(
            text("EXPLAIN (FORMAT JSON) SELECT * FROM events WHERE kind = 'kind 3'")
        ).scalar()
        if isinstance(document, str):
            document = json.loads(document)
        return document[0]["Plan"]["Plan Rows"]

    observe("estimated rows", db.connect(estimate))
