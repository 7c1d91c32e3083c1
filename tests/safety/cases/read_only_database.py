"""A database whose sessions are read-only by default (default_transaction_read_only, as on a
replica or for a reporting role): reads must work as without the plugin, and the plugin's trial
index (for an allowed scan) cannot be created."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE people (id integer PRIMARY KEY, city text NOT NULL);
        INSERT INTO people SELECT n, 'city ' || (n % 9) FROM generate_series(1, 100) AS n;
        DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$;
    """,
}


def test_reads(db, observe):
    observe(
        "count",
        db.connect(
            lambda conn: conn.execute(text("SELECT count(*) FROM people WHERE id < 50")).scalar()
        ),
    )


@pytest.mark.allow_seqscan("people")
def test_allowed_scan(db, observe):
    observe(
        "rows",
        len(
            db.connect(
                lambda conn: conn.execute(text("SELECT id FROM people WHERE city = 'city 2'")).all()
            )
        ),
    )


def test_writes_are_refused(db, observe):
    def run(conn):
        with pytest.raises(exc.DBAPIError) as raised:
            conn.execute(text("UPDATE people SET city = 'x' WHERE id = 1"))
        return type(raised.value.orig).__name__

    observe("error", db.connect(run))
