"""Server-side cursors: rows streamed while the test writes on the same connection (a batch
job), and a cursor WITH HOLD that outlives its transaction."""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE tasks (id integer PRIMARY KEY, done boolean NOT NULL DEFAULT false);
        INSERT INTO tasks (id) SELECT generate_series(1, 30);
    """,
}


def test_stream_and_update(db, observe):
    def run(conn):
        result = conn.execution_options(stream_results=True, yield_per=5).execute(
            text("SELECT id FROM tasks WHERE id <= 12 ORDER BY id")
        )
        seen = 0
        for (task_id,) in result:
            conn.execute(text("UPDATE tasks SET done = true WHERE id = :id"), {"id": task_id})
            seen += 1
        return [
            seen,
            conn.execute(text("SELECT count(*) FROM tasks WHERE done AND id > 0")).scalar(),
        ]

    observe("streamed and done", db.begin(run))


def test_cursor_with_hold(db, observe):
    def run(conn):
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql(
            "DECLARE held CURSOR WITH HOLD FOR SELECT id FROM tasks WHERE id > 25 ORDER BY id"
        )
        conn.exec_driver_sql("COMMIT")
        conn.execute(text("UPDATE tasks SET done = true WHERE id = 26"))
        fetched = [row[0] for row in conn.exec_driver_sql("FETCH 3 FROM held").all()]
        conn.exec_driver_sql("CLOSE held")
        return fetched

    observe("fetched", db.connect(run, isolation_level="AUTOCOMMIT"))
