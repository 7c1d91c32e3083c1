"""pytest-postgresql's fixtures in the transactional pattern: each test gets a database cloned
from a template (``postgresql``), and its SQLAlchemy session runs inside one transaction that
the fixture rolls back, with the test's commits turned into savepoints.

The plugin's EXPLAINs and trial indexes run inside that transaction and must leave it as it
was: the fixture checks, after each test, that the transaction is still usable and that the
rollback removes what the test created."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

CONFTEST = """
import os

import psycopg
import pytest
from pytest_postgresql import factories
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from models import Base, seed

SERVER = make_url(os.environ["DBGUARD_INNER_URL"])


def load_schema(dbname, **connection):
    engine = create_engine(SERVER.set(database=dbname))
    Base.metadata.create_all(engine)
    seed(engine)
    engine.dispose()


postgresql_noproc = factories.postgresql_noproc(
    host=SERVER.host or SERVER.query["host"],
    port=SERVER.port or SERVER.query.get("port", 5432),
    user=SERVER.username,
    password=SERVER.password,
    dbname=os.environ["INNER_DATABASE"],
    load=[load_schema],
)
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def session(postgresql):
    # SQLAlchemy on pytest-postgresql's own connection
    engine = create_engine("postgresql+psycopg://", creator=lambda: postgresql, poolclass=StaticPool)
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    status = postgresql.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.INTRANS, status
    transaction.rollback()
    assert postgresql.execute("SELECT to_regclass('notes')").fetchone() == (None,)
    assert postgresql.execute("SELECT count(*) FROM users").fetchone() == (5,)
    postgresql.rollback()
    connection.close()
"""

TESTS = """
import pytest
from sqlalchemy import func, select, text

from models import User


@pytest.mark.num_queries(2)
def test_commit_is_a_savepoint_and_not_counted(session):
    session.add(User(id=100, email="new@example.com"))
    session.commit()
    assert session.scalar(select(func.count()).select_from(User)) == 6


def test_lazy_loop(session):
    for user in session.scalars(select(User)):
        len(user.items)


def test_scan_of_a_table_made_in_the_transaction(session):
    session.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, author text)"))
    session.execute(text("INSERT INTO notes (author) SELECT 'a' || g FROM generate_series(1, 50) g"))
    session.execute(text("SELECT id FROM notes WHERE author = :author"), {"author": "a7"}).all()
"""


def test_transactional_fixtures(
    app: pytest.Pytester, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database of the inner session's own (and its template), beside the outer test's
    monkeypatch.setenv("INNER_DATABASE", f"{make_url(pg_db).database}_tx")
    app.makeconftest(CONFTEST)
    app.makepyfile(test_tx=TESTS)
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=2, errors=0)
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: User.items was lazy-loaded for 5 User objects, one query each",
            "*at test_tx.py:16 in test_lazy_loop",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*Missing index: no index serves notes (author)",
            "*at test_tx.py:22 in test_scan_of_a_table_made_in_the_transaction",
            "Fix, verified on this database*",
            "*CREATE INDEX CONCURRENTLY idx_notes_author ON notes (author);",
        ]
    )
