"""Capture: SQLAlchemy event listeners that record each statement into the current test's record.

The cursor listener runs for every statement of the suite, so its common path is a few
dictionary look-ups: statement shapes are cached by statement text, and the stack is walked
(for call sites) only for the first runs of each statement in a test, which is all the N+1
verdict needs. Everything else is computed after the test, from the record.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session

from ._callsite import CallSite, CallSiteFinder, SiteKey
from ._explain import Explained, explain, internal_error, relations_in
from ._findings import Finding
from ._fingerprint import DDL_KEYWORDS, fingerprint, is_internal, statement_kind

_MAX_SHAPES = 50_000  # distinct statement texts cached per session before the cache restarts
_MAX_TEXTS_PER_TEST = 10_000  # beyond this a test's statements are looked up by shape
_MAX_PARENTS = 10_000  # distinct parent objects remembered per lazy-loaded relationship
_EXPLAINABLE = frozenset({"select", "insert", "update", "delete"})


@dataclass(slots=True)
class Shape:
    """What is known about one statement text, for the whole session."""

    fingerprint: str
    kind: str
    internal: bool
    depths: tuple[int, ...] = ()  # where the user's frame was found (hints for the next walk)
    relations: list[str] | None = None  # the tables its plan read (a hint for the next ANALYZE)


class ShapeCache:
    def __init__(self) -> None:
        self._shapes: dict[str, Shape] = {}

    def get(self, text: str) -> Shape:
        shape = self._shapes.get(text)
        if shape is None:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape_text = fingerprint(text)
            kind = statement_kind(shape_text)
            shape = Shape(shape_text, kind, is_internal(shape_text))
            self._shapes[text] = shape
        return shape


class VerdictCache:
    """EXPLAIN verdicts with nothing to report, reused by the next tests while the schema
    stays as it was: EXPLAIN is the costly part of a test on PostgreSQL, and most tests run
    the same statements on the same schema.

    A verdict is kept only when it found nothing (an index added later cannot change that),
    and all of them are dropped when the DDL run between two tests' calls differs from the
    last time (a fixture that builds another schema) or a test runs DDL itself.
    """

    _LIMIT = 10_000

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str, str], Explained] = {}
        self._ddl: list[str] = []  # DDL since the last test's call phase
        self._previous_ddl: tuple[str, ...] | None = None

    def note_ddl(self, shape: str) -> None:
        self._ddl.append(shape)

    def start_test(self) -> None:
        ddl = tuple(self._ddl)
        self._ddl.clear()
        if ddl != self._previous_ddl:
            self._verdicts.clear()
            self._previous_ddl = ddl

    def schema_changed(self) -> None:
        self._verdicts.clear()
        self._previous_ddl = None  # and again at the next test, whatever its fixtures run

    def get(self, key: tuple[str, str]) -> Explained | None:
        return self._verdicts.get(key)

    def keep(self, key: tuple[str, str], explained: Explained) -> None:
        if explained.error or explained.scans or explained.lint_hits:
            return
        if len(self._verdicts) >= self._LIMIT:
            self._verdicts.clear()
        self._verdicts[key] = explained


@dataclass(slots=True)
class Sample:
    """One run of a statement whose call site was recorded."""

    seq: int
    site_key: SiteKey | None
    text: str
    parameters: Any  # kept for the analysis, never printed
    executemany: bool  # a batch: never a repeat of one row
    orm_load: str | None  # "lazy" (a relationship) or "refresh" (expired attributes), by the ORM

    @property
    def params_key(self) -> int | None:
        """Tells repeats apart; computed by the analysis, off the hot path, and only for
        statements that ran often enough to matter."""
        if self.executemany:
            return None
        if type(self.parameters) is tuple:  # positional drivers (sqlite3): hashable, fast
            try:
                return hash((self.text, self.parameters))
            except TypeError:  # a list or a dict among the values
                pass
        return hash((self.text, repr(self.parameters)))


@dataclass(slots=True)
class Statement:
    """One statement shape within one test: exact counts and a few sampled runs."""

    text: str  # the first text seen with this shape
    shape: Shape
    dialect: str
    first_seq: int
    first_parameters: Any
    connection: Connection | None
    finder: CallSiteFinder
    count: int = 0
    samples: list[Sample] = field(default_factory=list)
    sites: dict[SiteKey | None, int] = field(default_factory=dict)  # sampled runs per site
    sampling: bool = True
    explained: Explained | None = None

    def call_sites(self) -> list[CallSite]:
        return list(dict.fromkeys(self.finder.name(key) for key in self.sites if key is not None))

    def first_call_site(self) -> CallSite | None:
        key = next((key for key in self.sites if key is not None), None)
        return None if key is None else self.finder.name(key)


@dataclass(slots=True)
class LazyLoads:
    """Lazy loads of one relationship from one call site."""

    relationship: str  # "ResearchItem.prompts"
    parent_class: str
    attribute: str
    collection: bool
    site_key: SiteKey | None
    first_seq: int
    count: int = 0
    parents: set[int] = field(default_factory=set)
    seqs: list[int] = field(default_factory=list)


class LogEntry(NamedTuple):
    """One recorded run (a plain tuple on the hot path: cheaper to build than an object)."""

    statement: Statement
    text: str
    site: CallSite | None
    executemany: bool
    parameters: Any
    phase: str


class Record:
    """Everything captured for one test."""

    def __init__(self, nodeid: str, max_recorded: int, finder: CallSiteFinder) -> None:
        self.nodeid = nodeid
        self.max_recorded = max_recorded
        self.finder = finder
        self.total = 0
        self.phase = "setup"
        self.statements: dict[str, Statement] = {}  # by text, several texts may share one
        self.by_shape: dict[str, Statement] = {}
        self.log: list[tuple[Statement, str, SiteKey | None, bool, Any, str]] = []
        self.findings: list[Finding] = []
        self.snapshot_write: Any = None  # a _verdicts.SnapshotWrite, sent to the controller
        self.plans_skipped_on: int | None = None  # a PostgreSQL version snapshots do not record
        self.schema_findings: list[Any] = []  # _schema.SchemaFinding, once per session
        self.lazy_loads: dict[tuple[str, SiteKey | None], LazyLoads] = {}
        self.nplusone_allowed: list[list[int]] = []  # [first seq, end seq] of allowance blocks
        self.explain_seqscan = False  # EXPLAIN each new shape with enable_seqscan = off
        self.explain_plans = False  # EXPLAIN each new shape after ANALYZE, for its snapshot
        self.explain_analyze = False  # also EXPLAIN ANALYZE read-only statements, for reports
        self.schema_changed = False  # the test ran DDL: EXPLAIN verdicts are not reused
        self._lock = threading.Lock()

    def statement_for(
        self, text: str, shape: Shape, conn: Connection | None, parameters: Any
    ) -> Statement:
        """The slow path: the first run of a statement text in this test."""
        with self._lock:
            statement = self.by_shape.get(shape.fingerprint)
            if statement is None:
                dialect = conn.dialect.name if conn is not None else ""
                statement = Statement(
                    text, shape, dialect, self.total, parameters, conn, self.finder
                )
                self.by_shape[shape.fingerprint] = statement
            if len(self.statements) < _MAX_TEXTS_PER_TEST:
                self.statements[text] = statement
            return statement

    def site(self, key: SiteKey | None) -> CallSite | None:
        """The call site a sampled run's key stands for."""
        return None if key is None else self.finder.name(key)

    def entries(self, start: int = 0, end: int | None = None) -> list[LogEntry]:
        return [
            LogEntry(statement, text, self.site(key), *rest)
            for statement, text, key, *rest in self.log[start:end]
        ]

    @property
    def explains(self) -> bool:
        return self.explain_seqscan or self.explain_plans or self.explain_analyze

    def shapes(self) -> Iterator[Statement]:
        return iter(self.by_shape.values())

    def is_nplusone_allowed(self, seq: int) -> bool:
        if not self.nplusone_allowed:  # most tests: no allowance block
            return False
        return any(start <= seq < end for start, end in self.nplusone_allowed)


class Capture:
    """The session's listeners; ``active`` is the record of the test now running."""

    def __init__(self, finder: CallSiteFinder, threshold: int, all_call_sites: bool) -> None:
        self.finder = finder
        self.shapes = ShapeCache()
        self.active: Record | None = None
        self.verdicts = VerdictCache()
        self._sample_limit = threshold
        self._max_samples = 4 * threshold
        self._all_call_sites = all_call_sites
        self._listeners = (
            (Engine, "before_cursor_execute", self._on_cursor_execute),
            (Engine, "begin", self._on_begin),
            (Engine, "commit", self._on_commit),
            (Engine, "rollback", self._on_rollback),
            (Session, "do_orm_execute", self._on_orm_execute),
        )

    def install(self) -> None:
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)

    def uninstall(self) -> None:
        for target, name, listener in self._listeners:
            if event.contains(target, name, listener):
                event.remove(target, name, listener)

    def _on_cursor_execute(
        self,
        conn: Connection | None,
        cursor: Any,
        text: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        record = self.active
        if record is None:
            # Between tests: only DDL matters, to know whether the schema is the same.
            if text.lstrip()[:8].upper().startswith(DDL_KEYWORDS):
                self.verdicts.note_ddl(self.shapes.get(text).fingerprint)
            return
        seq = record.total
        record.total = seq + 1
        statement = record.statements.get(text)
        if statement is None:
            statement = record.statement_for(text, self.shapes.get(text), conn, parameters)
            if statement.shape.kind == "ddl" and not record.schema_changed:
                record.schema_changed = True
                self.verdicts.schema_changed()
            if statement.count == 0 and record.explains:
                self._explain(record, statement, conn, parameters, executemany)
        statement.count += 1
        site = None
        if statement.sampling or self._all_call_sites:
            site = self._sample(record, statement, seq, text, parameters, context, executemany)
        if seq < record.max_recorded:
            record.log.append((statement, text, site, executemany, parameters, record.phase))

    def _sample(
        self,
        record: Record,
        statement: Statement,
        seq: int,
        text: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> SiteKey | None:
        shape = statement.shape
        if shape.kind == "transaction":
            statement.sampling = False
            return None
        site, depth = self.finder.find(shape.depths)
        if depth > 1 and depth not in shape.depths:
            shape.depths = (depth, *shape.depths[:1])
        if not statement.sampling:
            return site
        options = getattr(context, "execution_options", None) or {}
        sample = Sample(seq, site, text, parameters, executemany, _orm_load(options))
        statement.samples.append(sample)
        runs = statement.sites.get(site, 0) + 1
        statement.sites[site] = runs
        if runs >= self._sample_limit or len(statement.samples) >= self._max_samples:
            statement.sampling = False
        return site

    def _explain(
        self,
        record: Record,
        statement: Statement,
        conn: Connection | None,
        parameters: Any,
        executemany: bool,
    ) -> None:
        """EXPLAIN a shape's first run in this test, before it runs, on its own connection."""
        shape = statement.shape
        if (
            conn is None
            or statement.dialect != "postgresql"
            or shape.kind not in _EXPLAINABLE
            or shape.internal
        ):
            return
        reusable = record.explain_seqscan and not (
            record.explain_plans or record.explain_analyze or record.schema_changed
        )
        key = None
        if reusable:
            key = (statement.text, conn.engine.url.render_as_string(hide_password=True))
            statement.explained = self.verdicts.get(key)
            if statement.explained is not None:
                return
        try:
            statement.explained = explain(
                conn,
                statement.text,
                parameters,
                executemany,
                analyze_tables=record.explain_plans,
                seqscan_off=record.explain_seqscan,
                explain_analyze=record.explain_analyze,
                relations=shape.relations if record.explain_plans else None,
            )
        except Exception as error:  # never let the plugin's EXPLAIN break the user's test
            statement.explained = Explained(error=internal_error(error))
        if key is not None:
            self.verdicts.keep(key, statement.explained)
        if statement.explained.plan is not None:
            shape.relations = relations_in(statement.explained.plan)

    def _on_begin(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "BEGIN", (), None, False)

    def _on_commit(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "COMMIT", (), None, False)

    def _on_rollback(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "ROLLBACK", (), None, False)

    def _on_orm_execute(self, state: ORMExecuteState) -> None:
        record = self.active
        if record is None or not state.is_select:  # only SELECTs carry load options
            return
        parent = state.lazy_loaded_from
        if parent is None:
            return
        prop = getattr(state.loader_strategy_path, "prop", None)
        if prop is None:
            return
        site, _ = self.finder.find()
        parent_class = parent.class_.__name__
        relationship = f"{parent_class}.{prop.key}"
        with record._lock:
            loads = record.lazy_loads.get((relationship, site))
            if loads is None:
                loads = LazyLoads(
                    relationship, parent_class, prop.key, bool(prop.uselist), site, record.total
                )
                record.lazy_loads[(relationship, site)] = loads
            loads.count += 1
            if len(loads.parents) < _MAX_PARENTS:
                loads.parents.add(id(parent))
            if len(loads.seqs) < _MAX_PARENTS:
                loads.seqs.append(record.total)


def _orm_load(execution_options: Any) -> str | None:
    """Which ORM loader sent a statement, if one did: these are judged by the ORM rules."""
    load_options = execution_options.get("_sa_orm_load_options")
    if load_options is None:
        return None
    if getattr(load_options, "_lazy_loaded_from", None) is not None:
        return "lazy"
    if getattr(load_options, "_refresh_state", None) is not None:
        return "refresh"
    return None
