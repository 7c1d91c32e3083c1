"""Issue 10, item 15: a table outside the search_path (archive.items). The plugin used the
unqualified name for ANALYZE: "relation does not exist", a warning, and no plans."""

from sqlalchemy import text

SAFETY = {
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
        CREATE SCHEMA archive;
        CREATE TABLE archive.items (id integer PRIMARY KEY, title text NOT NULL);
        INSERT INTO archive.items SELECT n, 'item ' || n FROM generate_series(1, 50) AS n;
    """,
}


def test_archived_item(db, observe):
    title = db.connect(
        lambda conn: conn.execute(text("SELECT title FROM archive.items WHERE id = 7")).scalar()
    )
    observe("title", title)
