"""LISTEN/NOTIFY: notifications sent by another session reach the test's connection whichever
statement it runs; the plugin's statements in between must not swallow or duplicate them, and a
NOTIFY inside the test's transaction is delivered at its commit only."""

import time

from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg", "psycopg2", "asyncpg"],
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);
        INSERT INTO items VALUES (1, 'A'), (2, 'B');
    """,
}


def listen(db, conn, channel):
    received = []
    driver_connection = conn.connection.driver_connection
    if db.driver == "psycopg":
        driver_connection.add_notify_handler(lambda notify: received.append(notify.payload))
        conn.exec_driver_sql(f"LISTEN {channel}")
    elif db.driver == "asyncpg":
        from sqlalchemy.util import await_only

        await_only(driver_connection.add_listener(channel, lambda *args: received.append(args[3])))
    else:
        conn.exec_driver_sql(f"LISTEN {channel}")
    return received


def drain(db, conn, received):
    if db.driver == "psycopg2":
        driver_connection = conn.connection.driver_connection
        driver_connection.poll()
        received.extend(notify.payload for notify in driver_connection.notifies)
        driver_connection.notifies.clear()
    return sorted(received)


def test_notifications_from_another_session(db, observe):
    def run(conn):
        received = listen(db, conn, "jobs")
        with db.side() as other:
            other.execute("NOTIFY jobs, 'first'")
            other.execute("NOTIFY jobs, 'second'")
        time.sleep(0.2)
        conn.execute(text("SELECT code FROM items WHERE id = 1")).all()
        conn.execute(text("SELECT code FROM items WHERE id = 2")).all()
        time.sleep(0.1)
        conn.execute(text("SELECT 1")).all()
        return drain(db, conn, received)

    observe("received", db.connect(run, isolation_level="AUTOCOMMIT"))


def test_notify_in_the_tests_transaction(db, observe):
    with db.side() as other:
        other.execute("LISTEN own")

        def run(conn):
            conn.execute(text("SELECT pg_notify('own', 'in transaction')"))
            conn.execute(text("UPDATE items SET code = 'C' WHERE id = 2"))

        db.begin(run)
        observe("received", [notify.payload for notify in other.notifies(timeout=0.5)])
