"""Issue 10, item 14: % in a text() without parameters. SQLAlchemy escapes it as %% and hands
the driver {}; the plugin handed None, so psycopg left %% escaped and EXPLAIN failed: the
verdict is lost and the warning fails suites that run with filterwarnings = error."""

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL);
        INSERT INTO products VALUES (1, 'apple'), (2, 'banana'), (3, 'avocado');
    """,
}


def test_modulo(db, observe):
    observe(
        "value",
        db.connect(
            lambda conn: conn.execute(text("SELECT id % 2 FROM products WHERE id = 3")).scalar()
        ),
    )


def test_like_pattern(db, observe):
    def run(conn):
        return (
            conn.execute(
                text("SELECT name FROM products WHERE id < 3 AND name LIKE 'a%' ORDER BY id")
            )
            .scalars()
            .all()
        )

    observe("names", db.connect(run))


def test_percent_with_parameters(db, observe):
    def run(conn):
        return (
            conn.execute(
                text("SELECT name FROM products WHERE id = :id AND name LIKE 'b%'"), {"id": 2}
            )
            .scalars()
            .all()
        )

    observe("names", db.connect(run))


def test_percent_in_exec_driver_sql(db, observe):
    """exec_driver_sql sends the text as written: with psycopg (pyformat) SQLAlchemy hands the
    driver empty parameters, so a literal % is written %%, as psycopg expects."""
    if db.driver == "asyncpg":
        statement = "SELECT id % 2 FROM products WHERE id = 3"
    else:
        statement = "SELECT id %% 2 FROM products WHERE id = 3"
    observe("value", db.connect(lambda conn: conn.exec_driver_sql(statement).scalar()))
