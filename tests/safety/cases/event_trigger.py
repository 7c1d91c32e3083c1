"""An event trigger that logs DDL (an audit table with a serial id): the plugin's trial index
(created for an allowed sequential scan, then rolled back) fires it, and the audit sequence
advances although no DDL of the test's ran."""

import pytest
from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE ddl_log (id serial PRIMARY KEY, tag text NOT NULL);
        CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO ddl_log (tag) VALUES (tg_tag);
        END $$;
        CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();
        CREATE TABLE people (id integer PRIMARY KEY, city text NOT NULL);
        INSERT INTO people SELECT n, 'city ' || (n % 9) FROM generate_series(1, 200) AS n;
    """,
}


@pytest.mark.allow_seqscan("people")
def test_allowed_sequential_scan(db, observe):
    def run(conn):
        conn.execute(text("SELECT id FROM people WHERE city = 'city 3'")).all()
        conn.execute(text("CREATE TABLE later (id integer)"))
        return conn.execute(text("SELECT id, tag FROM ddl_log ORDER BY id")).all()

    observe("log", repr(db.begin(run)))
