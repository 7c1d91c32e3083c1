"""Fixtures for pytest-dbguard's own tests: each test runs pytest sessions with pytester,
against a fresh PostgreSQL database (see testing/dbguard_pg.py) or SQLite."""

from __future__ import annotations

import textwrap
from pathlib import Path

import asyncpg  # noqa: F401  (see below)
import hypothesis.internal.observability  # noqa: F401
import pytest
import sqlalchemy.dialects.postgresql.asyncpg
import sqlalchemy.dialects.postgresql.psycopg
import sqlalchemy.dialects.sqlite.pysqlite
import sqlalchemy.ext.asyncio
import sqlalchemy.orm  # noqa: F401
from sqlalchemy.util import preloaded

# pytester's in-process runs drop the modules a run imported. SQLAlchemy and asyncpg (a C
# extension) do not survive being imported twice in one process: a second import of asyncpg
# crashes the interpreter. Re-importing hypothesis (its pytest plugin imports it in every run)
# costs a second a run. So everything they may import is imported here, once.
for _package in ("sqlalchemy.orm", "sqlalchemy.engine", "sqlalchemy.sql", "sqlalchemy.ext"):
    preloaded.import_prefix(_package)

INNER_URL = "DBGUARD_INNER_URL"

MODELS = """
from sqlalchemy import ForeignKey, String, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    items: Mapped[list["Item"]] = relationship(back_populates="owner", order_by="Item.id")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[User] = relationship(back_populates="items")


def seed(engine, users=5, items_per_user=3):
    with engine.begin() as conn:
        conn.execute(insert(User), [{"id": i, "email": f"user{i}@example.com"}
                                    for i in range(1, users + 1)])
        conn.execute(insert(Item), [
            {"user_id": u, "title": f"item {u}.{n}"}
            for u in range(1, users + 1) for n in range(items_per_user)
        ])
"""

CONFTEST = """
import os

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from models import Base, seed


@pytest.fixture
def engine():
    engine = create_engine(os.environ["DBGUARD_INNER_URL"])
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session
"""


# Installed for tests/interplay, whose inner sessions turn them on with ``-p NAME``; off in the
# others, as before they were installed (pytest-randomly would shuffle inner tests whose output
# is matched in order).
INTERPLAY_PLUGINS = "-p no:randomly -p no:asyncio"


@pytest.fixture(autouse=True)
def inner_runs_without_interplay_plugins(request: pytest.FixtureRequest) -> None:
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # which clears PYTEST_ADDOPTS when it is created
        request.getfixturevalue("monkeypatch").setenv("PYTEST_ADDOPTS", INTERPLAY_PLUGINS)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Inner tests get their database URL from DBGUARD_INNER_URL: PostgreSQL or SQLite."""
    url = "sqlite://" if request.param == "sqlite" else request.getfixturevalue("database_url")
    monkeypatch.setenv(INNER_URL, url)
    return str(request.param)


@pytest.fixture
def pg_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(INNER_URL, database_url)
    return database_url


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with a small ORM application (users and items) and an ``engine``
    fixture on the database chosen by ``any_db`` or ``pg_db``."""
    pytester.makepyfile(models=textwrap.dedent(MODELS), conftest=textwrap.dedent(CONFTEST))
    _judge_test_queries(pytester)
    return pytester


def _judge_test_queries(pytester: pytest.Pytester) -> None:
    """The inner tests send their statements from the test modules themselves, which the
    plugin counts but does not judge for missing indexes unless asked."""
    pytester.makeini("[pytest]\ndbguard_judge_test_queries = true\n")


@pytest.fixture
def plan_app(pytester: pytest.Pytester, pg_db: str) -> pytest.Pytester:  # noqa: ARG001 (pg_db: the inner runs' database)
    """A pytester directory on PostgreSQL with tests/inner/plan_conftest.py as conftest."""
    source = Path(__file__).parent / "inner" / "plan_conftest.py"
    pytester.makeconftest(source.read_text())
    _judge_test_queries(pytester)
    return pytester
