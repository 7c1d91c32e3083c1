"""conftest.py of the pytester sessions that check plans (copied in by the plan_app fixture):
two small PostgreSQL tables, users (email indexed, status not) and items (user_id indexed).
DBGUARD_DROP_INDEXES drops indexes; DBGUARD_USERS sets the number of users (3 items each);
DBGUARD_SCHEMA_PER_WORKER gives each pytest-xdist worker its own schema (workers share the
database)."""

import os

import pytest
from sqlalchemy import create_engine, text

SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, status text NOT NULL);
CREATE INDEX ix_users_email ON users (email);
CREATE TABLE items (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    title text NOT NULL
);
CREATE INDEX ix_items_user_id ON items (user_id);
"""


@pytest.fixture
def engine():
    schema = os.environ.get("PYTEST_XDIST_WORKER")
    if not os.environ.get("DBGUARD_SCHEMA_PER_WORKER") or not schema:
        schema = None
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = create_engine(os.environ["DBGUARD_INNER_URL"], connect_args=options)
    users = int(os.environ.get("DBGUARD_USERS", "5"))
    with engine.begin() as conn:
        if schema:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        conn.execute(text("DROP TABLE IF EXISTS items, users CASCADE"))
        conn.execute(text(SCHEMA))
        for index in os.environ.get("DBGUARD_DROP_INDEXES", "").split():
            conn.execute(text(f"DROP INDEX {index}"))
        conn.execute(
            text(
                "INSERT INTO users (email, status) SELECT 'user' || n || '@example.com', "
                "'active' FROM generate_series(1, :n) AS n"
            ),
            {"n": users},
        )
        conn.execute(
            text(
                "INSERT INTO items (user_id, title) "
                "SELECT 1 + n % :n, 'item ' || n FROM generate_series(1, :n * 3) AS n"
            ),
            {"n": users},
        )
    yield engine
    engine.dispose()
