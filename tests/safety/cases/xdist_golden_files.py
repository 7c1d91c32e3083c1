"""Under pytest-xdist (-n 2, in both runs) golden files are written once by the controller and
read back by every worker: the update, then a check, pass as without the plugin."""

import pytest
from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "args": ["-n", "2"],
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
        INSERT INTO books SELECT n, 'b' || n, n % 4 FROM generate_series(1, 40) AS n;
        ALTER TABLE books SET (autovacuum_enabled = false);
    """,
}


@pytest.mark.parametrize("shelf", range(6))
def test_shelf(db, shelf):
    db.connect(
        lambda conn: conn.execute(
            text("SELECT title FROM books WHERE shelf = :s"), {"s": shelf}
        ).all()
    )


@pytest.mark.parametrize("book", range(6))
def test_book(db, book):
    db.connect(
        lambda conn: conn.execute(text("SELECT title FROM books WHERE id = :i"), {"i": book}).all()
    )
