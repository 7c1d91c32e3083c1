"""Issue 10, item 5: --dbguard-analyze runs EXPLAIN ANALYZE on any SELECT, including ones whose
functions act: a session-level advisory lock taken twice survives the plugin's rollback, pg_sleep sleeps
twice, and writes to temporary tables and their sequences are allowed in its read-only
savepoint."""

import time

from sqlalchemy import text

SAFETY = {
    "steps": [["--dbguard-analyze"]],
    "seed": """
        CREATE TABLE jobs (id integer PRIMARY KEY, state text NOT NULL);
        INSERT INTO jobs VALUES (1, 'new'), (2, 'new');
    """,
}


def test_session_advisory_lock_is_released(db, observe):
    def run(conn):
        conn.execute(text("SELECT pg_advisory_lock(4242)"))
        # released through the DBAPI cursor (a lock helper working on the raw connection):
        # the plugin does not mirror it, so its own pg_advisory_lock stays held
        cursor = conn.connection.cursor()
        cursor.execute("SELECT pg_advisory_unlock(4242)")
        cursor.close()
        with db.side() as other:
            taken = other.execute("SELECT pg_try_advisory_lock(4242)").fetchone()[0]
            other.execute("SELECT pg_advisory_unlock_all()")
        return taken

    observe("another session can take the lock", db.connect(run, isolation_level="AUTOCOMMIT"))


def test_pg_sleep_sleeps_once(db, observe):
    def run(conn):
        started = time.monotonic()
        conn.execute(text("SELECT pg_sleep(0.6)"))
        return time.monotonic() - started

    observe("slept under 1 s", db.connect(run) < 1.0)


def test_function_writing_a_temporary_table(db, observe):
    def run(conn):
        conn.execute(text("CREATE TEMPORARY TABLE visits (id serial PRIMARY KEY, at text)"))
        conn.execute(
            text(
                "CREATE FUNCTION pg_temp.visit() RETURNS integer LANGUAGE sql AS "
                "$$ INSERT INTO visits (at) VALUES ('now') RETURNING id $$"
            )
        )
        return conn.execute(text("SELECT pg_temp.visit()")).scalar()

    observe("first visit id", db.begin(run))


def test_temporary_sequence(db, observe):
    def run(conn):
        conn.execute(text("CREATE TEMPORARY SEQUENCE ticket"))
        return conn.execute(text("SELECT nextval('ticket')")).scalar()

    observe("first ticket", db.begin(run))


def test_data_modifying_cte_is_not_run_twice(db, observe):
    def run(conn):
        return conn.execute(
            text(
                "WITH moved AS (UPDATE jobs SET state = 'done' WHERE id = 1 RETURNING id) SELECT count(*) FROM moved"
            )
        ).scalar()

    observe("moved", db.begin(run))
