"""Issue 10, item 15: a table outside the search_path (archive.items) while public.items exists
too: the plugin ANALYZEd public.items, a table the test never touched (its statistics change),
and judged the wrong table."""

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
        CREATE TABLE public.items (id integer PRIMARY KEY, title text NOT NULL);
        ALTER TABLE public.items SET (autovacuum_enabled = false);
        INSERT INTO public.items SELECT n, 'item ' || n FROM generate_series(1, 500) AS n;
    """,
}


def test_archived_item(db, observe):
    title = db.connect(
        lambda conn: conn.execute(text("SELECT title FROM archive.items WHERE id = 7")).scalar()
    )
    observe("title", title)
