"""conftest.py of the safety suite's inner sessions (copied into each run directory).

The harness runs every case file twice, with pytest-dbguard and with ``-p no:dbguard``, and
compares what came out. This conftest gives the case files what they need to run unchanged on
every driver, and records what the harness compares:

- ``db``: the case's own fresh database, through the driver under test (``db.driver``): every
  test that uses it runs once per driver of the case (one database each, ids ``[psycopg]``). Its
  ``connect(fn)`` / ``begin(fn)`` call ``fn`` with a synchronous SQLAlchemy ``Connection``,
  also on async drivers (through ``AsyncConnection.run_sync``), so one test body runs on
  psycopg 3 (sync and async), psycopg2, asyncpg, SQLite and MySQL. ``db.side()`` is a plain
  driver connection outside SQLAlchemy (the plugin never sees it): the "other session" that
  holds a lock or sends a notification.
- ``observe(key, value)``: a value the test saw (a setting, a count, a timing bucket), compared
  between the two runs.
- the outcome of every test, written for the harness.

Environment (set by the harness): DBGUARD_SAFETY_DATABASES (JSON: case -> driver -> SQLAlchemy
URL), DBGUARD_SAFETY_OUTPUT (a directory outside the run directory), and
optionally DBGUARD_SAFETY_DROP (a conftest that drops the tests whose id contains it, without
telling pytest: the way some suites filter tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DATABASES: dict[str, dict[str, str]] = json.loads(os.environ["DBGUARD_SAFETY_DATABASES"])
OUTPUT = Path(os.environ["DBGUARD_SAFETY_OUTPUT"])
ASYNC_DRIVERS = {"psycopg_async", "asyncpg"}

# The plugin's markers, registered here too so that the run without the plugin sees the same
# (known) markers under filterwarnings = error.
MARKERS = (
    "max_queries(n): at most n statements",
    "num_queries(n): exactly n statements",
    "allow_nplusone: N+1 patterns are accepted",
    "allow_seqscan(*tables): sequential scans on these tables are accepted",
    "snapshot_plans: check this test's plans against its snapshot",
    "allow_lint(*names): these plan lints are accepted",
)

_worker = False


def pytest_configure(config: pytest.Config) -> None:
    global _worker
    _worker = hasattr(config, "workerinput")
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def _case(module_name: str) -> str:
    return module_name.removeprefix("test_")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses ``db`` runs once per driver of its case."""
    if "db" in metafunc.fixturenames:
        drivers = list(DATABASES[_case(metafunc.module.__name__)])
        metafunc.parametrize("db", drivers, indirect=True, scope="module", ids=drivers)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    dropped = os.environ.get("DBGUARD_SAFETY_DROP")
    if dropped:
        items[:] = [item for item in items if dropped not in item.nodeid]
    for item in items:  # which driver each test ran on (all of its case's: no db)
        callspec = getattr(item, "callspec", None)
        driver = callspec.params.get("db") if callspec is not None else None
        _write("items", {"test": item.nodeid, "driver": driver})


def _write(name: str, record: dict[str, Any]) -> None:
    line = json.dumps(record, default=repr, sort_keys=True) + "\n"
    with open(OUTPUT / f"{name}-{os.getpid()}.jsonl", "a", encoding="utf-8") as handle:
        handle.write(line)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _worker:  # under pytest-xdist the controller writes every report once
        return
    _write(
        "outcomes",
        {
            "test": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "xfail": hasattr(report, "wasxfail"),
            "message": report.longreprtext[-3000:] if report.failed else "",
        },
    )


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed and not _worker:
        _write(
            "outcomes",
            {
                "test": report.nodeid,
                "when": "collect",
                "outcome": "failed",
                "xfail": False,
                "message": report.longreprtext[-3000:],
            },
        )


@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """``observe(key, value)``: a value this test saw, compared between the two runs."""

    def record(key: str, value: Any) -> None:
        _write("observations", {"test": request.node.nodeid, "key": key, "value": value})

    return record


class Handle:
    """A synchronous face on a sync or async engine: ``connect(fn)`` and ``begin(fn)`` call
    ``fn(conn)`` with a SQLAlchemy ``Connection`` and return what it returns."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.is_async = make_url(url).get_dialect().is_async
        self._loop: asyncio.AbstractEventLoop | None = None
        if self.is_async:
            self._loop = asyncio.new_event_loop()
            self.async_engine: AsyncEngine = create_async_engine(url, **options)
            self.engine: Engine = self.async_engine.sync_engine
        else:
            self.engine = create_engine(url, **options)

    def connect(self, fn: Callable[[Connection], Any]) -> Any:
        if self._loop is None:
            with self.engine.connect() as conn:
                return fn(conn)
        return self._loop.run_until_complete(self._run(fn, begin=False))

    def begin(self, fn: Callable[[Connection], Any]) -> Any:
        if self._loop is None:
            with self.engine.begin() as conn:
                return fn(conn)
        return self._loop.run_until_complete(self._run(fn, begin=True))

    async def _run(self, fn: Callable[[Connection], Any], *, begin: bool) -> Any:
        opener = self.async_engine.begin() if begin else self.async_engine.connect()
        async with opener as conn:
            return await conn.run_sync(fn)

    def run_async(self, coroutine: Any) -> Any:
        """Run a coroutine on this handle's event loop (async drivers only)."""
        assert self._loop is not None
        return self._loop.run_until_complete(coroutine)

    def dispose(self) -> None:
        if self._loop is None:
            self.engine.dispose()
            return
        self._loop.run_until_complete(self.async_engine.dispose())
        self._loop.close()


class Database:
    """The case's fresh database, through the driver under test."""

    def __init__(self, driver: str, url: str) -> None:
        self.url = url
        self.driver = driver
        self.dialect = make_url(url).get_dialect().name
        self.is_async = driver in ASYNC_DRIVERS
        self._handles: list[Handle] = []

    def engine(self, **options: Any) -> Handle:
        handle = Handle(self.url, options)
        self._handles.append(handle)
        return handle

    def connect(self, fn: Callable[[Connection], Any], **options: Any) -> Any:
        """``fn(conn)`` on a connection of a new engine (disposed afterwards)."""
        handle = Handle(self.url, options)
        try:
            return handle.connect(fn)
        finally:
            handle.dispose()

    def begin(self, fn: Callable[[Connection], Any], **options: Any) -> Any:
        handle = Handle(self.url, options)
        try:
            return handle.begin(fn)
        finally:
            handle.dispose()

    @contextlib.contextmanager
    def side(self) -> Iterator[Any]:
        """Another session on the same database, in autocommit, outside SQLAlchemy."""
        url = make_url(self.url)
        if self.dialect == "postgresql":
            import psycopg

            plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
            connection: Any = psycopg.connect(plain, autocommit=True)
        elif self.dialect == "sqlite":
            import sqlite3

            connection = sqlite3.connect(url.database or ":memory:", isolation_level=None)
        else:
            import pymysql

            connection = pymysql.connect(
                host=url.host,
                port=url.port or 3306,
                user=url.username,
                password=url.password or "",
                database=url.database,
                autocommit=True,
            )
        try:
            yield connection
        finally:
            connection.close()

    def close(self) -> None:
        for handle in self._handles:
            handle.dispose()


@pytest.fixture(scope="module")
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    driver = request.param
    database = Database(driver, DATABASES[_case(request.module.__name__)][driver])
    yield database
    database.close()


class Stopwatch:
    """Seconds since it started: cases that are about waiting observe a bucket of it."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


@pytest.fixture
def stopwatch() -> Stopwatch:
    return Stopwatch()
