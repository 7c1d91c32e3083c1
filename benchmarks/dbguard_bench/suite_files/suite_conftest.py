"""Fixtures of the generated suites: one database per session, its schema created once.

``bench_settings.FIXTURES`` chooses how a test's writes are undone:

- ``rollback`` (the common pattern): each test runs in a transaction rolled back at its end;
- ``commit``: each test's session commits at teardown, then the rows it added are deleted.

Under pytest-xdist each worker gets a PostgreSQL schema of its own, as suites give each worker
a database of its own.
"""

import os
import warnings
from collections.abc import Iterator
from typing import Any

import bench_app
import bench_settings
import pytest
from sqlalchemy import Connection, Engine, create_engine, delete, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool, StaticPool

pytest_plugins = ["bench_timing"]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # The suites accept their one finding in pytest.ini; without the plugin nobody reads it.
    if not pluginmanager.has_plugin("dbguard"):
        parser.addini("dbguard_allow_seqscan", "read by pytest-dbguard", type="args")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    url = os.environ["BENCH_DATABASE_URL"]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=StaticPool)  # in memory: one per process
    elif worker:
        schema = f"bench_{worker}"
        setup = create_engine(url, poolclass=NullPool)
        with setup.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        setup.dispose()
        engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = create_engine(url)
    with warnings.catch_warnings():  # drop_all warns about the cycle-free order it picks
        warnings.simplefilter("ignore")
        bench_app.METADATA.drop_all(engine)
    bench_app.METADATA.create_all(engine)
    with engine.begin() as connection:
        for shop in bench_app.SHOPS:
            shop.seed(connection)
    yield engine
    bench_app.METADATA.drop_all(engine)
    engine.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            if bench_settings.FIXTURES == "commit":
                transaction.commit()
            else:
                transaction.rollback()


@pytest.fixture
def session(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Session]:
    if bench_settings.FIXTURES == "commit":
        yield from _committing_session(engine, request.module.shop)
        return
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection) as orm_session:
            yield orm_session
        transaction.rollback()


def _committing_session(engine: Engine, shop: Any) -> Iterator[Session]:
    """A session that commits what the test did, then deletes the purchases it added."""
    purchase, line = shop.Purchase, shop.Line
    with Session(engine) as orm_session:
        first_new = orm_session.scalar(select(func.max(purchase.id))) or 0
        orm_session.commit()
        yield orm_session
        orm_session.commit()
        added = select(purchase.id).where(purchase.id > first_new)
        orm_session.execute(delete(line).where(line.purchase_id.in_(added)))
        orm_session.execute(delete(purchase).where(purchase.id > first_new))
        orm_session.commit()
