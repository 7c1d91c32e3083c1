"""Isolation levels: a REPEATABLE READ transaction keeps the snapshot of its first statement
(another session's later commit stays invisible), SERIALIZABLE detects a write skew between two
of the test's connections, and READ ONLY transactions refuse writes."""

import pytest
from sqlalchemy import exc, text

SAFETY = {
    "seed": """
        CREATE TABLE doctors (id integer PRIMARY KEY, on_call boolean NOT NULL);
        INSERT INTO doctors VALUES (1, true), (2, true);
    """,
}


def test_repeatable_read_snapshot(db, observe):
    def run(conn):
        first = conn.execute(text("SELECT on_call FROM doctors WHERE id = 1")).scalar()
        with db.side() as other:
            other.execute("UPDATE doctors SET on_call = false WHERE id = 1")
        again = conn.execute(text("SELECT on_call FROM doctors WHERE id = 1")).scalar()
        other_query = conn.execute(
            text("SELECT count(*) FROM doctors WHERE id > 0 AND on_call")
        ).scalar()
        return [first, again, other_query]

    observe("reads", db.begin(run, isolation_level="REPEATABLE READ"))


def test_serializable_write_skew(db, observe):
    handle = db.engine(isolation_level="SERIALIZABLE")
    engine = handle.engine
    if db.is_async:
        pytest.skip("two interleaved transactions need a synchronous driver here")
    with engine.connect() as first, engine.connect() as second:
        for conn, doctor in ((first, 1), (second, 2)):
            conn.execute(text("SELECT count(*) FROM doctors WHERE on_call AND id > 0")).scalar()
            conn.execute(text("UPDATE doctors SET on_call = false WHERE id = :id"), {"id": doctor})
        first.commit()
        try:
            second.commit()
            outcome = "both committed"
        except exc.OperationalError as error:
            outcome = type(error.orig).__name__
    observe("outcome", outcome)


def test_read_only_transaction(db, observe):
    def run(conn):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        with pytest.raises(exc.DBAPIError) as raised:
            conn.execute(text("UPDATE doctors SET on_call = true WHERE id = 2"))
        return type(raised.value.orig).__name__

    observe("error", db.connect(run))
