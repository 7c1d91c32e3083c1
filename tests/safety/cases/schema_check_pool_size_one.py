"""Issue 10, item 4: --dbguard-schema takes a connection of the test's own pool: with
pool_size=1 held by a fixture it waits for pool_timeout and fails."""

import time

import pytest
from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "steps": [["--dbguard-schema=warn"]],
    "alone": True,
    "seed": "CREATE TABLE seeds (id integer PRIMARY KEY, name text NOT NULL);",
}
MOMENTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def connection(db):
    engine = db.engine(pool_size=1, max_overflow=0, pool_timeout=2).engine
    with engine.connect() as conn:
        yield conn


def test_first_uses_the_only_connection(connection):
    connection.execute(text("SELECT count(*) FROM seeds"))
    MOMENTS["first ended"] = time.monotonic()


@pytest.mark.usefixtures("connection")  # holds the pool's only connection
def test_second_starts_at_once(observe):
    observe("waited over 1 s between the tests", time.monotonic() - MOMENTS["first ended"] > 1)
