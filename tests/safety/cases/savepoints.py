"""Savepoints of the test's own, around the plugin's: SQLAlchemy's nested transactions, a
savepoint named like the plugin's (dbguard_explain), an error inside a savepoint rolled back to,
and RELEASE after the plugin's statements."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL UNIQUE);
        INSERT INTO items VALUES (1, 'A'), (2, 'B');
    """,
}


def codes(conn):
    return conn.execute(text("SELECT code FROM items ORDER BY id")).scalars().all()


def test_nested_transactions(db, observe):
    def run(conn):
        with conn.begin_nested():
            conn.execute(text("INSERT INTO items VALUES (3, 'C')"))
        nested = conn.begin_nested()
        conn.execute(text("UPDATE items SET code = 'Z' WHERE id = 1"))
        nested.rollback()
        return codes(conn)

    observe("codes", db.begin(run))


@pytest.mark.parametrize("name", ["dbguard_probe", "dbguard_step"])
def test_savepoint_named_like_the_plugins(db, observe, name):
    # the plugin's own savepoints are named so: the test's, of the same name, must survive it
    def run(conn):
        conn.exec_driver_sql(f"SAVEPOINT {name}")
        conn.execute(text("UPDATE items SET code = 'Y' WHERE id = 2"))
        conn.execute(text(f"SELECT code FROM items WHERE id = 2 AND '{name}' <> ''")).all()
        conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
        conn.execute(text(f"SELECT id FROM items WHERE code = 'B' AND '{name}' <> ''")).all()
        conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        return codes(conn)

    observe("codes", db.begin(run))


def test_error_inside_a_savepoint(db, observe):
    def run(conn):
        savepoint = conn.begin_nested()
        with pytest.raises(exc.IntegrityError):
            conn.execute(text("INSERT INTO items VALUES (4, 'A')"))
        savepoint.rollback()
        conn.execute(text("INSERT INTO items VALUES (5, 'E')"))
        return codes(conn)

    observe("codes", db.begin(run))
