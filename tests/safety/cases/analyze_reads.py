"""--dbguard-analyze on reads it does run (analyze_acting_functions holds the ones it refuses):
EXPLAIN ANALYZE executes the statement, in a read-only step that is rolled back. A lookup by
primary key, a read of a partitioned table, and a read in a SERIALIZABLE transaction whose
write skew the test expects to fail: the outcome, the rows and what the test sees must be as
without it."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE accounts (id integer PRIMARY KEY, owner text NOT NULL, balance integer NOT NULL);
        CREATE INDEX ix_accounts_owner ON accounts (owner);
        INSERT INTO accounts VALUES (1, 'ann', 100), (2, 'ann', 100), (3, 'bob', 50);
        CREATE TABLE events (id integer NOT NULL, day date NOT NULL, kind text NOT NULL)
            PARTITION BY RANGE (day);
        CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE INDEX ix_events_day ON events (day);
        INSERT INTO events VALUES (1, '2024-03-01', 'a'), (2, '2025-03-01', 'b');
    """,
    "steps": [["--dbguard-analyze"]],
}


def test_lookup_by_primary_key(db, observe):
    query = text("SELECT balance FROM accounts WHERE id = :id")
    observe("balance", db.begin(lambda conn: conn.execute(query, {"id": 3}).scalar()))


def test_read_of_a_partitioned_table(db, observe):
    query = text("SELECT id, kind FROM events WHERE day >= :day ORDER BY id")
    observe("events", db.begin(lambda conn: conn.execute(query, {"day": "2025-01-01"}).all()))


def test_serializable_write_skew_still_fails(db, observe):
    """Two transactions each read both of ann's accounts and withdraw from one: SERIALIZABLE
    lets one commit and fails the other. The plugin's EXPLAIN ANALYZE of the read runs in the
    same transactions, in steps it rolls back (their predicate locks must not change it)."""
    engine = db.engine(isolation_level="SERIALIZABLE").engine
    if db.is_async:
        pytest.skip("two interleaved transactions need a synchronous driver here")
    total = text("SELECT sum(balance) FROM accounts WHERE owner = :owner")
    with engine.connect() as first, engine.connect() as second:
        seen = []
        for conn, account in ((first, 1), (second, 2)):
            seen.append(conn.execute(total, {"owner": "ann"}).scalar())
            conn.execute(
                text("UPDATE accounts SET balance = balance - 150 WHERE id = :id"), {"id": account}
            )
        first.commit()
        try:
            second.commit()
            outcome = "both committed"
        except exc.OperationalError as error:
            outcome = type(error.orig).__name__
    observe("seen", seen)
    observe("outcome", outcome)
