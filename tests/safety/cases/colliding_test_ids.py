"""Issue 10, item 10: test ids that map to one snapshot file name ([a/b] and [a_b],
[std::string] and [std.string]): one file for two tests, the last writer wins, then "Plans
changed" forever."""

import pytest
from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "steps": [
        [
            "--dbguard-plans",
            "--dbguard-update",
            "--dbguard-report=report.md",
            "--dbguard-json=report.json",
        ],
        ["--dbguard-plans"],
    ],
    "seed": """
        CREATE TABLE books (id integer PRIMARY KEY, title text NOT NULL, shelf integer NOT NULL);
        CREATE INDEX ix_books_shelf ON books (shelf);
        INSERT INTO books VALUES (1, 'a', 1), (2, 'b', 2);
    """,
}

QUERIES = {
    "by id": "SELECT title FROM books WHERE id = 1",
    "by shelf": "SELECT title FROM books WHERE shelf = 2",
}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(QUERIES["by id"], id="a/b"),
        pytest.param(QUERIES["by shelf"], id="a_b"),
        pytest.param(QUERIES["by id"], id="std::string"),
        pytest.param(QUERIES["by shelf"], id="std.string"),
    ],
)
def test_books(db, query):
    db.connect(lambda conn: conn.execute(text(query)).all())
