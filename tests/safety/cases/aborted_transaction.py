"""A statement run in a transaction that an error already aborted: the test expects "current
transaction is aborted". The plugin cannot EXPLAIN it and says so in a warning, which fails the
test under filterwarnings = error (the statement fails anyway: there is nothing to judge)."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL UNIQUE);
        INSERT INTO items VALUES (1, 'A');
    """,
}


def test_statement_after_an_error(db, observe):
    def run(conn):
        with pytest.raises(exc.IntegrityError):
            conn.execute(text("INSERT INTO items VALUES (2, 'A')"))
        with pytest.raises(exc.DBAPIError) as raised:
            conn.execute(text("SELECT code FROM items WHERE id = 1"))
        conn.rollback()
        return [
            type(raised.value.orig).__name__,
            conn.execute(text("SELECT count(*) FROM items")).scalar(),
        ]

    observe("error and rows", db.connect(run))
