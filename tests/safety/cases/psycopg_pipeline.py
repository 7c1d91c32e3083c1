"""psycopg 3's pipeline mode around SQLAlchemy statements (a batch of writes in one round
trip): the plugin's statements run inside the user's pipeline; an error in one of them aborts
the pipeline and every statement queued after it."""

from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);
        INSERT INTO items VALUES (1, 'A'), (2, 'B');
    """,
}


def test_writes_in_a_pipeline(db, observe):
    def run(conn):
        with conn.connection.driver_connection.pipeline():
            conn.execute(text("UPDATE items SET code = 'X' WHERE id = 1"))
            conn.execute(text("INSERT INTO items VALUES (3, 'C')"))
            conn.execute(text("DELETE FROM items WHERE id = 2"))
        return conn.execute(text("SELECT code FROM items ORDER BY id")).scalars().all()

    observe("codes", db.begin(run))
