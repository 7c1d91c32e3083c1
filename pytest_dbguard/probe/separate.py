"""A connection of the plugin's own, for checks that must not touch the test's connections.

The schema checks read the catalog once per session, in the middle of a test's call phase: a
connection from the test's pool would take the test's own connection (``StaticPool``) or wait
for a free one (``pool_size=1``). A pool recreated from the engine's (``Pool.recreate()``: the
same connect arguments and connection events) gives a new connection, closed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from .driver import Driver, driver_for


@contextmanager
def separate_connection(engine: Engine) -> Iterator[Driver]:
    if engine.dialect.is_async:
        raise TypeError(
            "schema checks need a synchronous engine (for an AsyncEngine, pass "
            "async_engine.sync_engine's URL to sqlalchemy.create_engine with a synchronous "
            "driver)"
        )
    pool = engine.pool.recreate()
    try:
        connection = pool.connect()
        try:
            driver = driver_for(connection.dbapi_connection)
            if driver is None:
                raise TypeError(f"schema checks do not know the driver {engine.driver!r}")
            yield driver
        finally:
            connection.close()
    finally:
        pool.dispose()
