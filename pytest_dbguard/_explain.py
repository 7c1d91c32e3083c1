"""EXPLAIN on the test's own connection, without changing what the test does.

The plugin's statements go straight to the DBAPI connection (so SQLAlchemy's events never see
them: they are never counted), inside a SAVEPOINT that is rolled back, never released with
its changes: ``SET LOCAL`` survives a RELEASE, and ANALYZE's statistics would too. A
connection in autocommit mode gets a transaction of its own, rolled back. psycopg gets
``prepare=False``: once a statement has run five times psycopg prepares it on the server,
which must not happen to the plugin's own statements.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.util import await_only

from ._indexes import Candidate, candidate_for, quote
from ._lints import LintHit, lint_plans
from ._plans import plan_nodes
from ._seqscan import UnavoidableScan, unavoidable_scans

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
_PIN_SQL = "SELECT current_setting('server_version_num'), " + ", ".join(
    f"set_config('{name}', '{value}', true)" for name, value in _PINNED_SETTINGS.items()
)
_VERSION_COLUMN = 0
_SEQSCAN_OFF = "set_config('enable_seqscan', 'off', true)"
_SEQSCAN_ON_SQL = "SELECT set_config('enable_seqscan', 'on', true)"
_ANALYZE_SETTINGS_SQL = (
    "SELECT set_config('enable_seqscan', 'on', true), "
    "set_config('transaction_read_only', 'on', true)"
)
_CANDIDATE_SAVEPOINT = "dbguard_candidate"
_INDEX_SCANS_SQL = (
    "SELECT set_config('enable_indexscan', '{0}', true), "
    "set_config('enable_indexonlyscan', '{0}', true)"
)
_DATABASE_ERRORS = ("psycopg", "psycopg2", "asyncpg", "sqlalchemy")


@dataclass
class IndexCheck:
    """A candidate index for an unavoidable scan, created in a savepoint and explained."""

    scan: UnavoidableScan
    candidate: Candidate | None  # None: no column of the condition can be indexed
    used: bool = False  # the plan with the candidate uses it
    plan_before: dict[str, Any] | None = None  # both with enable_seqscan = off
    plan_after: dict[str, Any] | None = None
    table_rows: float = 0.0
    existing_indexes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Explained:
    """EXPLAIN results for one statement shape in one test."""

    plan: dict[str, Any] | None = None  # EXPLAIN (FORMAT JSON)'s "Plan"
    seqscan_off_plan: dict[str, Any] | None = None  # the same with enable_seqscan = off
    server_major: int = 0
    error: str | None = None
    scans: list[UnavoidableScan] = field(default_factory=list)
    index_checks: list[IndexCheck] = field(default_factory=list)
    lint_hits: list[LintHit] = field(default_factory=list)
    analyzed_plan: dict[str, Any] | None = None  # EXPLAIN ANALYZE, read-only statements only
    analyze_error: str | None = None


class DriverSession:
    """Runs SQL on a raw DBAPI connection: psycopg (sync, or async behind SQLAlchemy's
    adapter) with ``prepare=False``, any other driver through its DBAPI cursor."""

    def __init__(self, dbapi_connection: Any) -> None:
        self._dbapi = dbapi_connection
        raw = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's async adapters
        module = type(raw if raw is not None else dbapi_connection).__module__
        self._psycopg = module == "psycopg" or module.startswith("psycopg.")
        self._async_raw = raw if raw is not None and self._psycopg else None

    def run(self, sql: str, parameters: Any = None) -> list[Sequence[Any]]:
        """The rows of ``sql`` (of its last statement, for a psycopg script)."""
        if self._psycopg:
            return self._psycopg_results(sql, parameters)[-1] or []
        cursor = self._dbapi.cursor()
        try:
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def inline(self, sql: str, parameters: Any) -> str | None:
        """``sql`` with the parameters bound as literals by psycopg itself, for a script of
        one round trip; None for drivers that cannot (asyncpg)."""
        if not self._psycopg:
            return None
        import psycopg

        raw = self._async_raw or self._dbapi
        cursor_class = psycopg.AsyncClientCursor if self._async_raw else psycopg.ClientCursor
        try:
            return str(cursor_class(raw).mogrify(sql, parameters))
        except Exception:  # a value psycopg cannot write as a literal: take the slow path
            return None

    def result_sets(self, script: str) -> list[list[Sequence[Any]]]:
        """Every result set of a psycopg script, in order (statements without rows skipped)."""
        return [rows for rows in self._psycopg_results(script, None) if rows is not None]

    def _psycopg_results(self, sql: str, parameters: Any) -> list[list[Sequence[Any]] | None]:
        """Each statement's rows, None for one without rows (psycopg, sync or async)."""
        if self._async_raw is not None:
            results: list[list[Sequence[Any]] | None] = await_only(
                self._psycopg_results_async(sql, parameters)
            )
            return results
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(sql, parameters, prepare=False)
            results = []
            while True:
                results.append(list(cursor.fetchall()) if cursor.description else None)
                if not cursor.nextset():
                    return results
        finally:
            cursor.close()

    async def _psycopg_results_async(
        self, sql: str, parameters: Any
    ) -> list[list[Sequence[Any]] | None]:
        async with self._async_raw.cursor() as cursor:  # type: ignore[union-attr]
            await cursor.execute(sql, parameters, prepare=False)
            results: list[list[Sequence[Any]] | None] = []
            while True:
                results.append(list(await cursor.fetchall()) if cursor.description else None)
                if not cursor.nextset():
                    return results

    def script(self, *statements: str) -> list[Sequence[Any]]:
        """Statements without parameters, in one round trip where the driver allows it (every
        round trip counts: this runs for each new statement shape of each test)."""
        if self._psycopg:
            return self.run("; ".join(statements))
        rows: list[Sequence[Any]] = []
        for statement in statements:
            rows = self.run(statement)
        return rows

    def failed_transaction(self) -> bool:
        info = getattr(self._async_raw or self._dbapi, "info", None)
        status = getattr(info, "transaction_status", None)
        return status is not None and int(status) == _FAILED_TRANSACTION

    def autocommit(self) -> bool:
        return bool(getattr(self._dbapi, "autocommit", False))


def _is_plan(rows: list[Sequence[Any]]) -> bool:
    """Whether a result set is EXPLAIN (FORMAT JSON)'s (a JSON array in one column)."""
    if not rows or len(rows[0]) != 1:
        return False
    value = rows[0][0]
    return isinstance(value, list) or (isinstance(value, str) and value.startswith("["))


def _plan_of(rows: list[Sequence[Any]]) -> dict[str, Any]:
    document = rows[0][0]
    if isinstance(document, str):
        document = json.loads(document)
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def relations_in(plan: dict[str, Any]) -> list[str]:
    """The tables a plan reads (quoted, schema-qualified names for ANALYZE). Not the target
    of an INSERT, UPDATE or DELETE (ModifyTable): its statistics change no estimate, and an
    UPDATE's or DELETE's scan of its target is a node of its own."""
    found = set()
    for node in plan_nodes(plan):
        if "Relation Name" in node and node.get("Node Type") != "ModifyTable":
            name = '"' + node["Relation Name"].replace('"', '""') + '"'
            if node.get("Schema"):
                name = '"' + node["Schema"].replace('"', '""') + '".' + name
            found.add(name)
    return sorted(found)


def explain(
    conn: Connection,
    text: str,
    parameters: Any,
    executemany: bool,
    *,
    analyze_tables: bool,
    seqscan_off: bool,
    explain_analyze: bool = False,
    relations: list[str] | None = None,
) -> Explained:
    """EXPLAIN ``text`` with the test's parameters on the test's connection, and undo every
    trace of it. Errors are returned, never raised: the test goes on as if nothing happened.
    ``relations``: the tables the statement read last time, to ANALYZE in the same round trip
    (with ``analyze_tables``)."""
    try:
        dbapi = conn.connection.dbapi_connection
    except Exception as error:  # a closed or invalidated connection
        return Explained(error=f"the connection is not usable ({error})")
    if dbapi is None:
        return Explained(error="the connection is closed")
    session = DriverSession(dbapi)
    if session.failed_transaction():
        return Explained(error="the test's transaction is already aborted")
    if executemany and isinstance(parameters, (list, tuple)):
        # one parameter set of the batch (insertmanyvalues batches send a single set)
        parameters = parameters[0] if parameters else None
    own_transaction = session.autocommit()
    opening = "BEGIN" if own_transaction else f"SAVEPOINT {_SAVEPOINT}"
    closing = (
        ["ROLLBACK"]
        if own_transaction
        else [f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}", f"RELEASE SAVEPOINT {_SAVEPOINT}"]
    )
    explain_sql = "EXPLAIN (FORMAT JSON, COSTS TRUE) " + text
    if not explain_analyze and (relations is not None or not analyze_tables):
        quick = _explain_in_one_round_trip(
            session, opening, closing, explain_sql, parameters, relations, seqscan_off
        )
        if quick is not None:
            return quick
    run = _Run(session, explain_sql, parameters or None)
    try:
        # With no snapshot to take, the ordinary plan is not needed: sequential scans go off
        # at once (in the same round trip as the savepoint).
        run.start(opening, seqscan_off=seqscan_off and not analyze_tables)
    except Exception as error:
        with contextlib.suppress(Exception):
            session.script(*closing)
        return Explained(error=f"could not open a savepoint: {_first_line(error)}")
    try:
        run.explain(analyze_tables, seqscan_off)
    except Exception as error:
        run.result.error = _first_line(error)
    else:
        if explain_analyze and _READ_ONLY.match(text) and not _LOCKING.search(text):
            try:  # the last step: an error here only leaves the savepoint to roll back
                run.explain_analyze("EXPLAIN (ANALYZE, FORMAT JSON) " + text)
            except Exception as error:
                run.result.analyze_error = _first_line(error)
    finally:
        try:
            session.script(*closing)
        except Exception as error:
            run.result.error = run.result.error or f"could not roll back: {_first_line(error)}"
    return run.result


def _explain_in_one_round_trip(
    session: DriverSession,
    opening: str,
    closing: list[str],
    explain_sql: str,
    parameters: Any,
    relations: list[str] | None,
    seqscan_off: bool,
) -> Explained | None:
    """The common case, a statement with nothing to report, in one round trip: savepoint,
    settings, ANALYZE of the tables it read last time (for a snapshot), EXPLAIN, EXPLAIN with
    sequential scans off, and rollback, sent as one script with the test's parameters bound by
    psycopg as literals. None when the driver cannot, or when the plans show something to
    report or other tables: the step-by-step path then judges it."""
    inlined = session.inline(explain_sql, parameters or None)
    if inlined is None:
        return None
    statements = [opening, _PIN_SQL]
    if relations:
        statements.append("ANALYZE " + ", ".join(relations))
    if relations is not None:
        statements.append(inlined)
    if seqscan_off:
        statements += ["SELECT " + _SEQSCAN_OFF, inlined]
    try:
        sets = session.result_sets("; ".join([*statements, *closing]))
    except Exception as error:
        with contextlib.suppress(Exception):
            session.script(*closing)
        if relations is not None:  # perhaps other tables now: the step-by-step path decides
            return None
        return Explained(error=_first_line(error))
    plans = [_plan_of(rows) for rows in sets[1:] if _is_plan(rows)]
    plan = plans[0] if relations is not None else None
    off_plan = plans[-1] if seqscan_off else None
    if plan is not None and relations_in(plan) != relations:
        return None
    if off_plan is not None and list(unavoidable_scans(off_plan)):
        return None
    if lint_plans(plan, off_plan):
        return None
    major = int(sets[0][0][_VERSION_COLUMN]) // 10000
    return Explained(plan=plan, seqscan_off_plan=off_plan, server_major=major)


_READ_ONLY = re.compile(r"^\s*(?:SELECT|WITH|VALUES|TABLE)\b", re.IGNORECASE)
_LOCKING = re.compile(r"\bFOR\s+(?:UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b", re.I)


class _Run:
    """The steps of one EXPLAIN, inside the plugin's savepoint."""

    def __init__(self, session: DriverSession, explain_sql: str, parameters: Any) -> None:
        self.session = session
        self.explain_sql = explain_sql
        self.parameters = parameters
        self.result = Explained()
        self.analyzed: set[str] = set()
        self.seqscan_is_off = False

    def plan(self, sql: str | None = None) -> dict[str, Any]:
        return _plan_of(self.session.run(sql or self.explain_sql, self.parameters))

    def analyze(self, relations: list[str]) -> None:
        """Fresh statistics: the same plans on every run, and real row counts."""
        fresh = [relation for relation in relations if relation not in self.analyzed]
        if fresh:
            self.session.run("ANALYZE " + ", ".join(fresh))
            self.analyzed.update(fresh)

    def start(self, opening: str, *, seqscan_off: bool) -> None:
        pins = _PIN_SQL + (", " + _SEQSCAN_OFF if seqscan_off else "")
        rows = self.session.script(opening, pins)
        self.result.server_major = int(rows[0][_VERSION_COLUMN]) // 10000
        self.seqscan_is_off = seqscan_off

    def set_seqscan(self, enabled: bool) -> None:
        if self.seqscan_is_off == enabled:
            self.session.run(_SEQSCAN_ON_SQL if enabled else "SELECT " + _SEQSCAN_OFF)
            self.seqscan_is_off = not enabled

    def explain(self, analyze_tables: bool, seqscan_off: bool) -> None:
        result = self.result
        if analyze_tables or not seqscan_off:
            result.plan = self.plan()
            relations = relations_in(result.plan) if analyze_tables else []
            if relations:
                self.analyze(relations)
                result.plan = self.plan()
        if not seqscan_off:
            result.lint_hits = lint_plans(result.plan, None)
            return
        self.set_seqscan(False)
        result.seqscan_off_plan = self.plan()
        scans = list(unavoidable_scans(result.seqscan_off_plan))
        hits = lint_plans(result.plan, result.seqscan_off_plan)
        if not scans and not hits:
            return
        # A finding: judge it again on real row counts, and with the plan that runs.
        self.analyze(relations_in(result.seqscan_off_plan))
        result.seqscan_off_plan = self.plan()
        self.set_seqscan(True)
        result.plan = self.plan()
        self.set_seqscan(False)
        result.lint_hits = lint_plans(result.plan, result.seqscan_off_plan)
        result.scans = [
            scan
            for scan in unavoidable_scans(result.seqscan_off_plan)
            if not (scan.full_index_walk and self.bitmap_serves(scan))
        ]
        for scan in result.scans:
            result.index_checks.append(self.check_index(scan))

    def bitmap_serves(self, scan: UnavoidableScan) -> bool:
        """A full index walk may be the planner's choice for an ORDER BY although another
        index serves the filter: with index scans off, a bitmap scan of that index shows."""
        self.session.run(_INDEX_SCANS_SQL.format("off"))
        try:
            plan = self.plan()
        finally:
            self.session.run(_INDEX_SCANS_SQL.format("on"))
        return any(
            node.get("Node Type") == "Bitmap Heap Scan"
            and node.get("Relation Name") == scan.table
            and (node.get("Alias") or scan.table) == scan.alias
            for node in plan_nodes(plan)
        )

    def check_index(self, scan: UnavoidableScan) -> IndexCheck:
        """Create the candidate index in a nested savepoint and explain again."""
        assert self.result.seqscan_off_plan is not None and self.result.plan is not None
        candidate = candidate_for(scan, self.result.plan)
        check = IndexCheck(scan, candidate, plan_before=self.result.seqscan_off_plan)
        table = _literal(quote(scan.table))
        rows = self.session.run(f"SELECT reltuples FROM pg_class WHERE oid = {table}::regclass")
        check.table_rows = max(float(rows[0][0]), 0.0) if rows else 0.0
        check.existing_indexes = [
            str(row[0])
            for row in self.session.run(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                f"WHERE indrelid = {table}::regclass ORDER BY 1"
            )
        ]
        if candidate is None:
            return check
        self.session.run(f"SAVEPOINT {_CANDIDATE_SAVEPOINT}")
        try:
            self.session.run(candidate.create_sql(concurrently=False))
            check.plan_after = self.plan()
            check.used = candidate.name in _index_names(check.plan_after)
        except Exception as error:
            check.error = _first_line(error)
        finally:
            self.session.script(
                f"ROLLBACK TO SAVEPOINT {_CANDIDATE_SAVEPOINT}",
                f"RELEASE SAVEPOINT {_CANDIDATE_SAVEPOINT}",
            )
        return check

    def explain_analyze(self, sql: str) -> None:
        """Actual times and rows for the report: read-only, in the savepoint, never stored."""
        self.session.run(_ANALYZE_SETTINGS_SQL)
        self.result.analyzed_plan = self.plan(sql)


def _index_names(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in plan_nodes(plan) if "Index Name" in node}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_line(error: BaseException) -> str:
    """The error as a warning shows it; one that did not come from the database or its
    driver is the plugin's own bug, and says so."""
    if type(error).__module__.split(".")[0] not in _DATABASE_ERRORS:
        return internal_error(error)
    return _text_of(error)


def internal_error(error: BaseException) -> str:
    """An error of the plugin's own, as its warning shows it."""
    name = type(error).__name__
    return f"internal error in pytest-dbguard, please report it: {name}: {_text_of(error)}"


def _text_of(error: BaseException) -> str:
    return (str(error).strip() or type(error).__name__).splitlines()[0]
