"""One adapter per PostgreSQL driver: every driver difference the plugin meets lives here.

The plugin runs its own statements on the test's DBAPI connection, never through SQLAlchemy
(so they are never captured or counted) and never as server-side prepared statements of the
driver's own (psycopg gets ``prepare=False``; asyncpg an unnamed statement, outside both its
cache and SQLAlchemy's). Each adapter tells the connection's real transaction state (a user may
have sent BEGIN by hand on an autocommit connection), runs a script of the plugin's own
statements, and runs one statement for its rows, with the parameters exactly as SQLAlchemy
handed them to the driver.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.util import await_only

Rows = list[tuple[Any, ...]]


class State(enum.Enum):
    IDLE = "idle"  # no transaction open
    IN_TRANSACTION = "in a transaction"
    FAILED = "in a failed transaction"
    BUSY = "busy or closed"


class Driver:
    """The connection of one statement, as the probe uses it."""

    name = "dbapi"
    #: The driver opens a transaction by itself before a statement when none is open
    #: (psycopg and psycopg2 outside autocommit mode).
    begins_implicitly = False

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def state(self) -> State:
        raise NotImplementedError

    def server_major(self) -> int:
        raise NotImplementedError

    def execute(self, script: str) -> None:
        """The plugin's own statements, without parameters (several allowed), no rows."""
        raise NotImplementedError

    def rows(self, sql: str, parameters: Any = None) -> Rows:
        """The rows of one statement. ``parameters`` as SQLAlchemy handed them to the driver
        (``None``: the text goes to the server as it is)."""
        raise NotImplementedError

    def script_rows(self, statements: list[str]) -> Rows:
        """The plugin's own statements, in one round trip where the driver allows it; the rows
        of the one that returns rows."""
        found: Rows = []
        for statement in statements:
            found = self.rows(statement) or found
        return found

    def positional(self, text: str, _parameters: Any) -> tuple[str, int]:
        """``text`` with its placeholders written ``$1, $2, ...`` as the server reads them, and
        how many there are: what the driver would send for it."""
        return text, _count_dollar_parameters(text)


_DOLLAR_PARAMETER = re.compile(r"\$(\d+)")
_PYFORMAT = re.compile(r"%(?:\((?P<name>[^)]*)\))?[sbt]|%%")


def _count_dollar_parameters(text: str) -> int:
    return max((int(number) for number in _DOLLAR_PARAMETER.findall(text)), default=0)


def _pyformat_to_dollar(text: str, parameters: Any) -> tuple[str, int]:
    """psycopg's and psycopg2's ``%s`` / ``%(name)s`` placeholders as ``$n`` (the same name is
    the same number), ``%%`` as ``%``: what the driver does before sending a statement with
    parameters. Without parameters the driver sends the text as it is."""
    if parameters is None:
        return text, 0
    numbers: dict[str, int] = {}
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group() == "%%":
            return "%"
        name = match.group("name")
        if name is None:
            positional += 1
            return f"${positional}"
        if name not in numbers:
            numbers[name] = len(numbers) + 1
        return f"${numbers[name]}"

    converted = _PYFORMAT.sub(replace, text)
    return converted, max(positional, len(numbers))


@contextmanager
def _outside_prepared_cache(connection: Any) -> Iterator[None]:
    """psycopg counts every statement it runs for its prepared-statement cache, and when one
    reports ROLLBACK, DROP or ALTER it deallocates *all* of the connection's prepared
    statements (the test's own ones too). Its threshold set to None keeps the plugin's
    statements out of that machinery."""
    threshold = connection.prepare_threshold
    connection.prepare_threshold = None
    try:
        yield
    finally:
        connection.prepare_threshold = threshold


class _Psycopg(Driver):
    """psycopg 3, synchronous."""

    name = "psycopg"

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        import psycopg
        from psycopg.rows import tuple_row

        # A plain cursor class, whatever cursor or row factory the user configured.
        self._cursor: Any = lambda: psycopg.Cursor(connection, row_factory=tuple_row)
        self.begins_implicitly = not connection.autocommit

    def state(self) -> State:
        return _libpq_state(self.connection)

    def server_major(self) -> int:
        return int(self.connection.info.server_version) // 10000

    def execute(self, script: str) -> None:
        with _outside_prepared_cache(self.connection), self._cursor() as cursor:
            cursor.execute(script, prepare=False)

    def rows(self, sql: str, parameters: Any = None) -> Rows:
        with _outside_prepared_cache(self.connection), self._cursor() as cursor:
            # binary=True sends the statement with the extended protocol, which runs one
            # statement at most, even when there are no parameters.
            cursor.execute(sql, parameters, prepare=False, binary=True)
            return list(cursor.fetchall()) if cursor.description else []

    def script_rows(self, statements: list[str]) -> Rows:
        with _outside_prepared_cache(self.connection), self._cursor() as cursor:
            cursor.execute("; ".join(statements), prepare=False)
            found: Rows = []
            while True:
                if cursor.description:
                    found = list(cursor.fetchall())
                if not cursor.nextset():
                    return found

    def positional(self, text: str, parameters: Any) -> tuple[str, int]:
        return _pyformat_to_dollar(text, parameters)


class _AsyncPsycopg(_Psycopg):
    """psycopg 3 behind SQLAlchemy's async adapter: the same calls, awaited in the greenlet
    SQLAlchemy runs the statement in."""

    name = "psycopg (async)"

    def __init__(self, adapter: Any, connection: Any) -> None:
        Driver.__init__(self, connection)
        import psycopg
        from psycopg.rows import tuple_row

        self.adapter = adapter
        self._cursor = lambda: psycopg.AsyncCursor(connection, row_factory=tuple_row)
        self.begins_implicitly = not connection.autocommit

    def execute(self, script: str) -> None:
        await_only(self._execute(script))

    async def _execute(self, script: str) -> None:
        with _outside_prepared_cache(self.connection):
            async with self._cursor() as cursor:
                await cursor.execute(script, prepare=False)

    def rows(self, sql: str, parameters: Any = None) -> Rows:
        rows: Rows = await_only(self._rows(sql, parameters))
        return rows

    async def _rows(self, sql: str, parameters: Any) -> Rows:
        with _outside_prepared_cache(self.connection):
            async with self._cursor() as cursor:
                await cursor.execute(sql, parameters, prepare=False, binary=True)
                return list(await cursor.fetchall()) if cursor.description else []

    def script_rows(self, statements: list[str]) -> Rows:
        rows: Rows = await_only(self._script_rows(statements))
        return rows

    async def _script_rows(self, statements: list[str]) -> Rows:
        with _outside_prepared_cache(self.connection):
            async with self._cursor() as cursor:
                await cursor.execute("; ".join(statements), prepare=False)
                found: Rows = []
                while True:
                    if cursor.description:
                        found = list(await cursor.fetchall())
                    if not cursor.nextset():
                        return found


class _Psycopg2(Driver):
    name = "psycopg2"

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self.begins_implicitly = not connection.autocommit

    def _plain_cursor(self) -> Any:
        import psycopg2.extensions

        return self.connection.cursor(cursor_factory=psycopg2.extensions.cursor)

    def state(self) -> State:
        if self.connection.closed:
            return State.BUSY
        status = self.connection.get_transaction_status()
        return _LIBPQ_STATES.get(int(status), State.BUSY)

    def server_major(self) -> int:
        return int(self.connection.server_version) // 10000

    def execute(self, script: str) -> None:
        with self._plain_cursor() as cursor:
            cursor.execute(script)

    def rows(self, sql: str, parameters: Any = None) -> Rows:
        with self._plain_cursor() as cursor:
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description else []

    def positional(self, text: str, parameters: Any) -> tuple[str, int]:
        return _pyformat_to_dollar(text, parameters)


class _Asyncpg(Driver):
    """asyncpg behind SQLAlchemy's adapter. The adapter's own cursor would prepare every
    statement in SQLAlchemy's statement cache: the plugin talks to asyncpg directly, with
    unnamed statements (``prepare(name="")``), which leave nothing on the server."""

    name = "asyncpg"

    def __init__(self, adapter: Any, connection: Any) -> None:
        super().__init__(connection)
        self.adapter = adapter

    def state(self) -> State:
        if self.connection.is_closed():
            return State.BUSY
        # asyncpg does not tell a failed transaction from an open one: the probe's first
        # statement in a failed one is refused, and the probe says so.
        return State.IN_TRANSACTION if self.connection.is_in_transaction() else State.IDLE

    def server_major(self) -> int:
        return int(self.connection.get_server_version().major)

    def execute(self, script: str) -> None:
        await_only(self.connection.execute(script))

    def rows(self, sql: str, parameters: Any = None) -> Rows:
        rows: Rows = await_only(self._rows(sql, parameters))
        return rows

    async def _rows(self, sql: str, parameters: Any) -> Rows:
        statement = await self.connection.prepare(sql, name="")
        values: Sequence[Any] = () if parameters is None else parameters
        return [tuple(record) for record in await statement.fetch(*values)]


_LIBPQ_STATES = {
    0: State.IDLE,  # PQTRANS_IDLE
    1: State.BUSY,  # PQTRANS_ACTIVE: a command in progress
    2: State.IN_TRANSACTION,  # PQTRANS_INTRANS
    3: State.FAILED,  # PQTRANS_INERROR
    4: State.BUSY,  # PQTRANS_UNKNOWN: a bad connection
}


def _libpq_state(connection: Any) -> State:
    if connection.closed or connection.pgconn.pipeline_status:
        return State.BUSY  # closed, or in the user's pipeline: leave it alone
    return _LIBPQ_STATES.get(int(connection.info.transaction_status), State.BUSY)


def driver_for(dbapi_connection: Any) -> Driver | None:
    """The adapter for a DBAPI connection, or None for a driver the plugin does not know
    (its statements are still captured, never explained)."""
    raw = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's async adapters
    target = raw if raw is not None else dbapi_connection
    module = type(target).__module__.split(".")[0]
    if module == "psycopg":
        if raw is not None:
            return _AsyncPsycopg(dbapi_connection, raw)
        return _Psycopg(dbapi_connection)
    if module == "psycopg2":
        return _Psycopg2(dbapi_connection)
    if module == "asyncpg" and raw is not None:
        return _Asyncpg(dbapi_connection, raw)
    return None


def plan_of(rows: Rows) -> dict[str, Any]:
    """The ``Plan`` of an EXPLAIN (FORMAT JSON) result, whichever way the driver decoded it."""
    document = rows[0][0]
    if isinstance(document, (str, bytes)):
        document = json.loads(document)
    plan: dict[str, Any] = document[0]["Plan"]
    return plan
