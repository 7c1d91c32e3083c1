"""Issue 10, item 7: the plugin's own statements must not become server-side prepared
statements on the test's connection (asyncpg prepares every statement; psycopg prepares a
statement after five runs)."""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, title text NOT NULL);
        INSERT INTO items SELECT n, 'item ' || n FROM generate_series(1, 10) AS n;
    """,
}


def test_prepared_statements_on_the_connection(db, observe):
    def run(conn):
        for n in range(1, 9):  # psycopg prepares what ran five times on one connection
            conn.execute(text("UPDATE items SET title = title WHERE id = :id"), {"id": n})
            conn.execute(
                text("INSERT INTO items VALUES (:id, 'new') ON CONFLICT (id) DO NOTHING"),
                {"id": n + 100},
            )
        conn.execute(text("SELECT title FROM items WHERE id = :id"), {"id": 3})
        conn.execute(text("DELETE FROM items WHERE id = :id"), {"id": 104})
        return sorted(conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())

    statements = db.begin(run)
    observe("count", len(statements))
    observe("statements", statements)


def test_a_small_statement_cache_keeps_the_tests_statements(db, observe):
    """SQLAlchemy's asyncpg statement cache (LRU): the plugin's statements take no slot."""
    if db.driver != "asyncpg":
        return

    queries = [
        "SELECT title FROM items WHERE id = :x",
        "SELECT id FROM items WHERE id = :x",
        "SELECT id, title FROM items WHERE id = :x",
    ]

    def run(conn):
        for n, query in enumerate(queries, start=1):
            conn.execute(text(query), {"x": n})
        return sorted(conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())

    statements = db.begin(run, connect_args={"prepared_statement_cache_size": 4})
    observe("statements", statements)
