"""Issue 10, item 2: a transaction opened by hand on an AUTOCOMMIT connection.

The plugin reads the driver's autocommit flag only, sends its own BEGIN ... ROLLBACK and so
ends the user's transaction: everything after it is autocommitted.
"""

import pytest
from sqlalchemy import text
from sqlalchemy.util import await_only

SAFETY = {
    "seed": """
        CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL);
        INSERT INTO accounts VALUES (1, 100), (2, 100);
    """,
}


def balances(conn):
    return conn.execute(text("SELECT balance FROM accounts ORDER BY id")).scalars().all()


def transfer(conn):
    conn.execute(text("UPDATE accounts SET balance = balance - 10 WHERE id = 1"))
    conn.execute(text("UPDATE accounts SET balance = balance + 10 WHERE id = 2"))


def test_begin_sent_by_hand_then_rolled_back(db, observe):
    def run(conn):
        conn.exec_driver_sql("BEGIN")
        transfer(conn)
        inside = balances(conn)
        conn.exec_driver_sql("ROLLBACK")
        return inside

    observe("inside", db.connect(run, isolation_level="AUTOCOMMIT"))
    observe("after", db.connect(balances))


def test_driver_transaction_on_an_autocommit_connection(db, observe):
    """psycopg's conn.transaction(), asyncpg's connection.transaction()."""
    if db.driver == "psycopg2":
        pytest.skip("psycopg2 has no transaction() of its own")

    def run(conn):
        driver_connection = conn.connection.driver_connection
        if db.driver == "psycopg":
            with driver_connection.transaction(force_rollback=True):
                transfer(conn)
            return
        if db.driver == "psycopg_async":
            transaction = driver_connection.transaction(force_rollback=True)
            await_only(transaction.__aenter__())
            transfer(conn)
            await_only(transaction.__aexit__(None, None, None))
        else:  # asyncpg
            transaction = driver_connection.transaction()
            await_only(transaction.start())
            transfer(conn)
            await_only(transaction.rollback())

    db.connect(run, isolation_level="AUTOCOMMIT")
    observe("after", db.connect(balances))
