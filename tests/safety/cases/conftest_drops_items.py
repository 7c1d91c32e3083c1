"""Issue 10, item 9: a conftest that drops items itself (without pytest_deselected) must not
make their snapshots orphans: a golden file is removed only when its test no longer exists."""

from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "steps": [
        ["--dbguard-plans", "--dbguard-update"],
        {
            "args": ["--dbguard-plans", "--dbguard-update"],
            "env": {"DBGUARD_SAFETY_DROP": "dropped_by_conftest"},
        },
        ["--dbguard-plans"],
    ],
    "seed": """
        CREATE TABLE books (id integer PRIMARY KEY, title text NOT NULL);
        INSERT INTO books VALUES (1, 'a'), (2, 'b');
    """,
}


def test_kept(db):
    db.connect(lambda conn: conn.execute(text("SELECT title FROM books WHERE id = 1")).all())


def test_dropped_by_conftest(db):
    db.connect(lambda conn: conn.execute(text("SELECT id, title FROM books ORDER BY id")).all())
