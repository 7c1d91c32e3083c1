"""Issue 10, item 12: GITHUB_STEP_SUMMARY naming an unwritable path ends the session with a
traceback and exit 1 although every test passed."""

from sqlalchemy import text

SAFETY = {
    "drivers": ["psycopg"],
    "env": {"GITHUB_STEP_SUMMARY": "/nonexistent-dbguard-directory/summary.md"},
    "alone": True,
    "seed": "CREATE TABLE books (id integer PRIMARY KEY, title text NOT NULL);",
}


def test_passes(db):
    db.connect(lambda conn: conn.execute(text("SELECT title FROM books WHERE id = 1")).all())
