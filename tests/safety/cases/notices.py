"""Notices the driver receives: the plugin's EXPLAIN plans the statement, and planning runs
IMMUTABLE and STABLE functions on constants (a RAISE NOTICE in one is a common debugging aid,
or an audit hook); its BEGIN inside a transaction opened by hand warns "there is already a
transaction in progress". The test counts the notices its connection received."""

import logging
import re

from sqlalchemy import text

SAFETY = {
    "seed": """
        CREATE TABLE items (id integer PRIMARY KEY, code text NOT NULL);
        CREATE INDEX ix_items_code ON items (code);
        INSERT INTO items VALUES (1, 'A'), (2, 'B');
        CREATE FUNCTION normalized(value text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            RAISE NOTICE 'normalizing %', value;
            RETURN upper(value);
        END $$;
        CREATE SEQUENCE codes;
        CREATE FUNCTION next_code() RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            RETURN 'C' || nextval('codes');
        END $$;
    """,
}


class Logged(logging.Handler):
    def __init__(self, notices):
        super().__init__(logging.INFO)
        self.notices = notices

    def emit(self, record):
        self.notices.append(re.sub(r"^[A-Z]+:\s+", "", record.getMessage()))


def collect_notices(db, conn):
    """Start collecting the notices of this connection; returns the list they go to."""
    notices = []
    driver_connection = conn.connection.driver_connection
    if db.driver in ("psycopg", "psycopg_async"):
        driver_connection.add_notice_handler(
            lambda diagnostic: notices.append(diagnostic.message_primary)
        )
    elif db.driver == "asyncpg":
        driver_connection.add_log_listener(lambda _conn, message: notices.append(message.message))
    else:  # SQLAlchemy logs psycopg2's notices after each statement, and clears them
        logger = logging.getLogger("sqlalchemy.dialects.postgresql")
        logger.setLevel(logging.INFO)
        logger.addHandler(Logged(notices))
    return notices


def test_notice_from_a_function_folded_at_planning(db, observe):
    def run(conn):
        notices = collect_notices(db, conn)
        conn.execute(text("SELECT id FROM items WHERE code = normalized('a')")).all()
        return [str(notice).strip() for notice in notices]

    observe("notices", db.begin(run))


def test_sequence_used_by_a_function_folded_at_planning(db, observe):
    """A function wrongly declared IMMUTABLE (to be usable in an index) that takes a sequence
    value: planning runs it, and the plugin's EXPLAIN plans the statement once more."""

    def run(conn):
        conn.execute(text("SELECT id FROM items WHERE code = next_code()")).all()
        return conn.execute(text("SELECT last_value FROM codes")).scalar()

    observe("last code", db.begin(run))


def test_notice_from_begin_by_hand(db, observe):
    def run(conn):
        notices = collect_notices(db, conn)
        conn.exec_driver_sql("BEGIN")
        conn.execute(text("SELECT code FROM items WHERE id = 1")).all()
        conn.exec_driver_sql("COMMIT")
        return [str(notice).strip() for notice in notices]

    observe("notices", db.connect(run, isolation_level="AUTOCOMMIT"))
