"""Issue 10, item 6, and the same cause for statement_timeout: the plugin's lock_timeout of
2 s replaces a shorter one set by the test, and its statement_timeout of 30 s one the test set.
Another session holds an ACCESS EXCLUSIVE lock; the test's statement must fail fast."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL);
        INSERT INTO accounts VALUES (1, 100);
    """,
    "differs": {
        "*": "issue 10 item 6 (the plugin's lock_timeout and statement_timeout replace the test's)"
    },
}


def blocked_read(db, setting):
    def run(conn):
        conn.execute(text(setting))
        with pytest.raises(exc.DBAPIError):  # asyncpg: the DBAPIError base class
            conn.execute(text("SELECT balance FROM accounts WHERE id = 1"))

    with db.side() as other:
        other.execute("BEGIN")
        other.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        try:
            db.connect(run)
        finally:
            other.execute("ROLLBACK")


def test_lock_timeout_set_by_the_test(db, observe, stopwatch):
    blocked_read(db, "SET lock_timeout = '200ms'")
    observe("failed within 1 s", stopwatch.seconds < 1.0)


def test_statement_timeout_set_by_the_test(db, observe, stopwatch):
    blocked_read(db, "SET statement_timeout = '200ms'")
    observe("failed within 1 s", stopwatch.seconds < 1.0)
