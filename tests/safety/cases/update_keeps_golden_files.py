"""Issue 10, item 9: --dbguard-update alone (what the missing-snapshot message tells the user to
run) deletes the golden files of the tests that do not check plans in this run: their tests
exist, they are not orphans. The third step checks the plans again."""

from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "steps": [["--dbguard-plans", "--dbguard-update"], ["--dbguard-update"], ["--dbguard-plans"]],
    "seed": """
        CREATE TABLE books (id integer PRIMARY KEY, title text NOT NULL);
        INSERT INTO books VALUES (1, 'a'), (2, 'b');
    """,
}


def test_one_book(db):
    db.connect(lambda conn: conn.execute(text("SELECT title FROM books WHERE id = 1")).all())


def test_all_books(db):
    db.connect(lambda conn: conn.execute(text("SELECT id, title FROM books ORDER BY id")).all())
