"""Comments of both kinds in every position of a statement, on autocommit and inside a
transaction. A statement that ends in a line comment is issue 10, item 1.

The plugin EXPLAINs a statement shape once per test, and comments do not change a shape: one
test per form. Each test starts from the same row, and checks from another session (which the
plugin never sees) that its autocommit connection is not left inside a transaction.
"""

import pytest
from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);
        INSERT INTO notes VALUES (1, 'one'), (2, 'two -- not a comment'), (3, '/* nor this */');
    """,
}

WRITES = [
    "-- leading line comment\nUPDATE notes SET body = body || '+' WHERE id = 1",
    "/* leading block */ UPDATE notes SET body = body || '+' WHERE id = 1",
    "UPDATE /* inside */ notes SET body = body || '+' WHERE id = 1",
    "UPDATE notes SET body = body || '+' -- middle line comment\n WHERE id = 1",
    "UPDATE notes SET body = body || '+' WHERE id = 1 /* trailing block */",
    "UPDATE notes SET body = body || '+' WHERE id = 1 /* nested /* block */ comment */",
    "UPDATE notes SET body = body || '--+' WHERE id = 1",
    "UPDATE notes SET body = body || '+' WHERE id = 1 -- trailing line comment",
    "UPDATE notes SET body = body || '+' WHERE id = 1; -- after the semicolon",
    "UPDATE notes SET body = body || '+' WHERE id = 1 --",
    "UPDATE notes SET body = body || '+' WHERE id = 1 -- a comment\n-- and another",
]
READS = [
    "SELECT body FROM notes WHERE id = 2 -- trailing",
    "/* a */ SELECT body /* b */ FROM notes WHERE id = 3 /* c */",
    "SELECT body FROM notes WHERE id = 1 AND body <> '--'",
    "-- only a comment before\nSELECT body FROM notes WHERE id = 2",
]


@pytest.fixture
def fresh_row(db):
    with db.side() as other:
        other.execute("UPDATE notes SET body = 'one' WHERE id = 1")


def body(conn):
    return conn.execute(text("SELECT body FROM notes WHERE id = 1")).scalar()


def left_in_a_transaction(db, pid):
    with db.side() as other:
        row = other.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row[0] == "idle in transaction"


@pytest.mark.usefixtures("fresh_row")
@pytest.mark.parametrize("statement", WRITES, ids=range(len(WRITES)))
def test_write_on_autocommit(db, observe, statement):
    def run(conn):
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        conn.execute(text(statement))
        return left_in_a_transaction(db, pid)

    observe("left in a transaction", db.connect(run, isolation_level="AUTOCOMMIT"))
    observe("body", db.connect(body))


@pytest.mark.usefixtures("fresh_row")
@pytest.mark.parametrize("statement", WRITES, ids=range(len(WRITES)))
def test_write_in_a_transaction(db, observe, statement):
    # a text of its own (a leading space): the autocommit test's verdict is not reused
    def run(conn):
        conn.execute(text(" " + statement))
        return [body(conn), conn.execute(text("SHOW lock_timeout")).scalar()]

    observe("body and lock_timeout", db.begin(run))
    observe("body after", db.connect(body))


@pytest.mark.parametrize("statement", READS, ids=range(len(READS)))
def test_read_on_autocommit(db, observe, statement):
    def run(conn):
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        value = conn.execute(text(statement)).scalar()
        return [value, left_in_a_transaction(db, pid)]

    observe("value, left in a transaction", db.connect(run, isolation_level="AUTOCOMMIT"))
