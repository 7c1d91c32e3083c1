"""Issue 10, item 6, and the same cause for statement_timeout: the plugin's lock_timeout of
2 s replaces a shorter one set by the test, and its statement_timeout of 30 s one the test set.
Another session holds an ACCESS EXCLUSIVE lock; the test's statement must fail fast."""

import time

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL);
        INSERT INTO accounts VALUES (1, 100);
    """,
}


def blocked_read(db, setting):
    """Seconds the test's statement took to fail (the statement alone)."""

    def run(conn):
        conn.execute(text(setting))
        started = time.monotonic()
        with pytest.raises(exc.DBAPIError):  # asyncpg: the DBAPIError base class
            conn.execute(text("SELECT balance FROM accounts WHERE id = 1"))
        return time.monotonic() - started

    with db.side() as other:
        other.execute("BEGIN")
        other.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        try:
            return db.connect(run)
        finally:
            other.execute("ROLLBACK")


def test_lock_timeout_set_by_the_test(db, observe):
    observe("failed within 1.2 s", blocked_read(db, "SET lock_timeout = '200ms'") < 1.2)


def test_statement_timeout_set_by_the_test(db, observe):
    observe("failed within 1.2 s", blocked_read(db, "SET statement_timeout = '200ms'") < 1.2)
