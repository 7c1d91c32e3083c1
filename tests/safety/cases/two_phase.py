"""Two-phase commit: a transaction prepared with PREPARE TRANSACTION, then committed from
another session. Needs max_prepared_transactions > 0 on the server (skipped otherwise, in both
runs alike)."""

import uuid

import pytest
from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg", "psycopg2"],
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);
        INSERT INTO items VALUES (1, 'A');
    """,
}


def test_prepare_and_commit_prepared(db, observe):
    with db.side() as other:
        if int(other.execute("SHOW max_prepared_transactions").fetchone()[0]) == 0:
            pytest.skip("max_prepared_transactions is 0 on this server")
    handle = db.engine()
    with handle.engine.connect() as conn:
        transaction = conn.begin_twophase(xid=f"dbguard-safety-{uuid.uuid4().hex}")
        conn.execute(text("UPDATE items SET code = 'B' WHERE id = 1"))
        conn.execute(text("INSERT INTO items VALUES (2, 'C')"))
        transaction.prepare()
        transaction.commit()
    observe(
        "codes",
        db.connect(
            lambda conn: conn.execute(text("SELECT code FROM items ORDER BY id")).scalars().all()
        ),
    )
