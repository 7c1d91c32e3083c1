"""EXPLAIN on the test's own connection, without changing what the test does.

The plugin's statements go straight to the DBAPI connection (so SQLAlchemy's events never see
them: they are never counted), inside a SAVEPOINT that is rolled back, never released with
its changes: ``SET LOCAL`` survives a RELEASE, and ANALYZE's statistics would too. A
connection in autocommit mode gets a transaction of its own, rolled back. psycopg gets
``prepare=False``: once a statement has run five times psycopg prepares it on the server,
which must not happen to the plugin's own statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.util import await_only

_SAVEPOINT = "dbguard_explain"
_FAILED_TRANSACTION = 3  # libpq's PQTRANS_INERROR

# Planner settings pinned to PostgreSQL's defaults for the plugin's EXPLAIN only, so that plans
# do not depend on the machine (JIT, parallel workers, tuned cost constants).
_PINNED_SETTINGS = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "seq_page_cost": "1",
    "random_page_cost": "4",
    "cpu_tuple_cost": "0.01",
    "cpu_index_tuple_cost": "0.005",
    "cpu_operator_cost": "0.0025",
    "effective_cache_size": "4GB",
    "work_mem": "4MB",
    "default_statistics_target": "100",
    "enable_seqscan": "on",
    "enable_indexscan": "on",
    "enable_indexonlyscan": "on",
    "enable_bitmapscan": "on",
    "enable_hashjoin": "on",
    "enable_mergejoin": "on",
    "enable_nestloop": "on",
    "enable_sort": "on",
    "enable_hashagg": "on",
    "enable_material": "on",
    "lock_timeout": "2s",  # ANALYZE must not wait behind another connection's lock
    "statement_timeout": "30s",
}
_PIN_SQL = (
    "SELECT "
    + ", ".join(
        f"set_config('{name}', '{value}', true)" for name, value in _PINNED_SETTINGS.items()
    )
    + ", current_setting('server_version_num')"
)
_SEQSCAN_OFF_SQL = "SELECT set_config('enable_seqscan', 'off', true)"


@dataclass
class Explained:
    """EXPLAIN results for one statement shape in one test."""

    plan: dict[str, Any] | None = None  # EXPLAIN (FORMAT JSON)'s "Plan"
    seqscan_off_plan: dict[str, Any] | None = None  # the same with enable_seqscan = off
    server_major: int = 0
    error: str | None = None


class _DriverSession:
    """Runs SQL on a raw DBAPI connection: psycopg (sync, or async behind SQLAlchemy's
    adapter) with ``prepare=False``, any other driver through its DBAPI cursor."""

    def __init__(self, dbapi_connection: Any) -> None:
        self._dbapi = dbapi_connection
        raw = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's async adapters
        module = type(raw if raw is not None else dbapi_connection).__module__
        self._psycopg = module.startswith("psycopg.")
        self._async_raw = raw if raw is not None and self._psycopg else None

    def run(self, sql: str, parameters: Any = None) -> list[Sequence[Any]]:
        if self._async_raw is not None:
            rows: list[Sequence[Any]] = await_only(self._run_async(sql, parameters))
            return rows
        cursor = self._dbapi.cursor()
        try:
            if self._psycopg:
                cursor.execute(sql, parameters, prepare=False)
            elif parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    async def _run_async(self, sql: str, parameters: Any) -> list[Sequence[Any]]:
        async with self._async_raw.cursor() as cursor:  # type: ignore[union-attr]
            await cursor.execute(sql, parameters, prepare=False)
            return list(await cursor.fetchall()) if cursor.description else []

    def failed_transaction(self) -> bool:
        info = getattr(self._async_raw or self._dbapi, "info", None)
        status = getattr(info, "transaction_status", None)
        return status is not None and int(status) == _FAILED_TRANSACTION

    def autocommit(self) -> bool:
        return bool(getattr(self._dbapi, "autocommit", False))


def _plan_of(rows: list[Sequence[Any]]) -> dict[str, Any]:
    document = rows[0][0]
    if isinstance(document, str):
        document = json.loads(document)
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def relations_in(plan: dict[str, Any]) -> list[str]:
    """The tables a plan reads (quoted, schema-qualified names for ANALYZE)."""
    found: dict[str, None] = {}
    stack = [plan]
    while stack:
        node = stack.pop()
        if "Relation Name" in node:
            schema = node.get("Schema")
            name = '"' + node["Relation Name"].replace('"', '""') + '"'
            if schema:
                name = '"' + schema.replace('"', '""') + '".' + name
            found[name] = None
        stack.extend(node.get("Plans", ()))
    return sorted(found)


def explain(
    conn: Connection,
    text: str,
    parameters: Any,
    executemany: bool,
    *,
    analyze_tables: bool,
    seqscan_off: bool,
) -> Explained:
    """EXPLAIN ``text`` with the test's parameters on the test's connection, and undo every
    trace of it. Errors are returned, never raised: the test goes on as if nothing happened."""
    try:
        dbapi = conn.connection.dbapi_connection
    except Exception as error:  # a closed or invalidated connection
        return Explained(error=f"the connection is not usable ({error})")
    if dbapi is None:
        return Explained(error="the connection is closed")
    session = _DriverSession(dbapi)
    if session.failed_transaction():
        return Explained(error="the test's transaction is already aborted")
    if executemany and isinstance(parameters, (list, tuple)):
        # one parameter set of the batch (insertmanyvalues batches send a single set)
        parameters = parameters[0] if parameters else None
    if not parameters:
        parameters = None
    own_transaction = session.autocommit()
    try:
        session.run("BEGIN" if own_transaction else f"SAVEPOINT {_SAVEPOINT}")
    except Exception as error:
        return Explained(error=f"could not open a savepoint: {_first_line(error)}")
    result = Explained()
    try:
        result.server_major = int(session.run(_PIN_SQL)[0][-1]) // 10000
        explain_sql = "EXPLAIN (FORMAT JSON, COSTS TRUE) " + text
        result.plan = _plan_of(session.run(explain_sql, parameters))
        if analyze_tables:  # fresh statistics make plans the same on every run
            relations = relations_in(result.plan)
            if relations:
                session.run("ANALYZE " + ", ".join(relations))
                result.plan = _plan_of(session.run(explain_sql, parameters))
        if seqscan_off:
            session.run(_SEQSCAN_OFF_SQL)
            result.seqscan_off_plan = _plan_of(session.run(explain_sql, parameters))
    except Exception as error:
        result.error = _first_line(error)
    finally:
        try:
            if own_transaction:
                session.run("ROLLBACK")
            else:
                session.run(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                session.run(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        except Exception as error:
            result.error = result.error or f"could not roll back: {_first_line(error)}"
    return result


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
