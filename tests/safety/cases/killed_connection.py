"""The test's connection is killed by another session (a failover, a pooler restart): the next
statement raises a disconnect error, SQLAlchemy invalidates the connection, and the pool gives
a new one. The plugin's EXPLAIN meets the dead connection first."""

from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);
        INSERT INTO items VALUES (1, 'A');
    """,
}


def test_statement_on_a_killed_connection(db, observe):
    handle = db.engine(pool_size=1)

    def kill_then_read(conn):
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with db.side() as other:
            other.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        try:
            conn.execute(text("SELECT code FROM items WHERE id = 1")).all()
        except exc.DBAPIError as error:
            return ["error", error.connection_invalidated]
        return ["no error"]

    observe("first", handle.connect(kill_then_read))
    observe(
        "after",
        handle.connect(
            lambda conn: conn.execute(text("SELECT code FROM items WHERE id = 1")).scalar()
        ),
    )
