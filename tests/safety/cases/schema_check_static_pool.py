"""Issue 10, item 4: --dbguard-schema runs its checks on a connection of the test's own pool
and rolls it back: with StaticPool that is the test's connection, and its uncommitted rows
vanish."""

import pytest
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

SAFETY = {
    "drivers": ["psycopg", "psycopg2"],
    "steps": [["--dbguard-schema=warn"]],
    "alone": True,
    "seed": "CREATE TABLE seeds (id integer PRIMARY KEY, name text NOT NULL);",
}


@pytest.fixture(scope="module")
def connection(db):
    engine = db.engine(poolclass=StaticPool).engine
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO seeds VALUES (1, 'a'), (2, 'b')"))  # never committed
        yield conn


def test_first_reads_the_seed_rows(connection, observe):
    observe("rows", connection.execute(text("SELECT count(*) FROM seeds")).scalar())


def test_second_reads_them_again(connection, observe):
    observe("rows", connection.execute(text("SELECT count(*) FROM seeds")).scalar())
