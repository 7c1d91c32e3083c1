"""A test that checks an error PostgreSQL raises while planning (a constant that cannot be cast,
a division by zero folded at planning): the plugin's EXPLAIN fails first, and its warning fails
the test under filterwarnings = error although the test's statement fails as the test expects."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": "CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);",
}


def test_invalid_cast(db):
    def run(conn):
        with pytest.raises(exc.DBAPIError):  # DataError; the base class on asyncpg
            conn.execute(text("SELECT code FROM items WHERE id = CAST('x' AS integer)"))

    db.connect(run)


def test_division_by_zero(db):
    def run(conn):
        with pytest.raises(exc.DBAPIError):  # DataError; the base class on asyncpg
            conn.execute(text("SELECT code FROM items WHERE id = 1 / 0"))

    db.connect(run)
