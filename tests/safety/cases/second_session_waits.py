"""Another session holds a lock longer than the plugin's lock_timeout (2 s), as a migration or a
long batch does: the test's reader waits for it and then succeeds. The plugin's EXPLAIN gives
up after 2 s and warns, which fails strict suites. And a lock the test itself holds, waited for
by a second connection of the test's."""

import threading
import time

from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg", "psycopg2"],
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);
        INSERT INTO items VALUES (1, 'A'), (2, 'B');
    """,
}


def test_reader_waits_for_a_long_lock(db, observe):
    with db.side() as other:
        other.execute("BEGIN")
        other.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(2.6, lambda: other.execute("COMMIT"))
        release.start()
        try:
            code = db.connect(
                lambda conn: conn.execute(text("SELECT code FROM items WHERE id = 1")).scalar()
            )
        finally:
            release.join()
    observe("code", code)


def test_second_connection_waits_for_the_tests_row_lock(db, observe):
    handle = db.engine()
    results = []
    with handle.engine.connect() as holder:
        holder.execute(text("UPDATE items SET code = 'held' WHERE id = 2"))

        def writer():
            with handle.engine.begin() as conn:
                results.append(
                    conn.execute(
                        text("UPDATE items SET code = code || '+' WHERE id = 2 RETURNING code")
                    ).scalar()
                )

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.5)
        waiting = holder.execute(
            text("SELECT count(*) > 0 FROM pg_locks WHERE NOT granted")
        ).scalar()
        holder.commit()
        thread.join(10)
    observe("waiting, result", [waiting, results])
