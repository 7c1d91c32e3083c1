"""Examining a statement: the probe's plans, the rules' reading of them, and verdicts proven
with trial indexes; reused while the schema stays as it was.

The examiner is called (by capture) after the first successful run of each statement shape in
a test. An examination depends on the statement's text and on the catalog, not on the test: it
is kept for the session under the text and the schema version (database, role, search path
and a hash of the catalog rows that decide a plan). Each test asks the server for that version
once per engine, before it reuses an examination, and again after it runs DDL or changes a
setting; so a verdict is never reused across a schema change, a search path, a role or DDL sent
outside SQLAlchemy, and a finding already accepted costs nothing in the next tests.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Connection

from ..capture.fingerprint import fingerprint
from ..capture.record import Statement
from ..probe import catalog, explain
from ..probe.catalog import SchemaVersion
from ..probe.driver import Driver, driver_for
from ..probe.profile import AS_IS, INDEXED
from ..probe.session import (
    Probe,
    ProbeUnavailable,
    StepFailed,
    first_line,
    open_probe,
    pin_settings_sql,
)
from ..rules.candidates import Candidate, TableFacts, candidates_for
from ..rules.lints import LintHit, lint_plans
from ..rules.plans import plan_nodes
from ..rules.reads import WholeRead, whole_reads

_EXPLAINABLE = frozenset({"select", "insert", "update", "delete"})
_MAX_CACHED = 20_000
_FUNCTION_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(")
_ACTING_NODES = frozenset({"ModifyTable", "LockRows", "Foreign Scan", "Custom Scan"})


@dataclass(frozen=True)
class Fix:
    """Trial indexes the plan used, and the whole-table reads they removed."""

    indexes: tuple[Candidate, ...]
    removed: tuple[WholeRead, ...]
    plan_after: dict[str, Any]
    names: dict[str, str]  # trial index name -> the name suggested to the user


@dataclass
class Examination:
    """What the probe and the rules found for one statement."""

    server_major: int = 0
    current_schema: str = ""
    plan: dict[str, Any] | None = None  # the indexed plan (EXPLAIN JSON's "Plan")
    generic: bool = True  # planned without parameter values
    reads: list[WholeRead] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    fix: Fix | None = None
    trial_error: str | None = None  # why the candidates could not be tried
    trial_skipped: bool = False  # no candidates: every read was accepted where it was examined
    lint_hits: list[LintHit] = field(default_factory=list)
    facts: dict[tuple[str, str], TableFacts] = field(default_factory=dict)
    indexes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # definitions
    index_columns: dict[str, tuple[str | None, ...]] = field(default_factory=dict)
    note: str | None = None  # why the statement could not be examined
    as_is_plan: dict[str, Any] | None = None  # with --dbguard-plans-as-is
    analyzed_plan: dict[str, Any] | None = None  # with --dbguard-analyze
    analyze_note: str | None = None


@dataclass
class TestExaminations:
    """One test's examinations, by statement fingerprint, and the schema versions it checked."""

    examinations: dict[str, Examination] = field(default_factory=dict)
    versions: dict[int, SchemaVersion] = field(default_factory=dict)  # by engine
    allowed: frozenset[str] = frozenset()  # tables whose whole-table reads the test accepts
    examined: int = 0  # statements examined on the database in this test
    reused: int = 0  # statements whose examination an earlier test's served


class Examiner:
    def __init__(self, *, trials: bool, as_is: bool, analyze: bool) -> None:
        self.trials = trials  # prove missing indexes with trial indexes
        self.as_is = as_is  # also take the as-is plan (for as-is snapshots)
        self.analyze = analyze
        self.current: TestExaminations | None = None
        self._cache: dict[tuple[str, SchemaVersion], Examination] = {}
        self._versions: dict[SchemaVersion, SchemaVersion] = {}  # signal -> content version
        self._facts: dict[tuple[tuple[str, str], SchemaVersion], catalog.RelationFacts] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        statement: Statement,
        conn: Connection,
        parameters: Any,
        executemany: bool,
    ) -> None:
        test = self.current
        shape = statement.shape
        if test is None or statement.dialect != "postgresql":
            return
        if shape.kind not in _EXPLAINABLE:
            if shape.kind in ("ddl", "other"):
                test.versions.clear()  # the schema or a setting may have changed
            return
        if shape.internal or not shape.single:
            return
        test.examinations[shape.fingerprint] = self._examination(
            test, statement, conn, _one_row(parameters, executemany)
        )

    def _examination(
        self, test: TestExaminations, statement: Statement, conn: Connection, parameters: Any
    ) -> Examination:
        per_run = self.as_is or self.analyze  # plans that depend on the values
        try:
            dbapi = conn.connection.dbapi_connection
        except Exception as error:  # noqa: BLE001 (a closed or invalidated connection, in any driver's way)
            return Examination(note=f"the connection is not usable ({first_line(error)})")
        driver = driver_for(dbapi)
        if driver is None:
            return Examination(note=None)
        try:
            engine_key = id(conn.engine)
            version = test.versions.get(engine_key)
            if version is None:
                version = test.versions[engine_key] = self._version(driver)
            key = (statement.text, version)
            cached = self._cache.get(key)
            if cached is not None and not per_run and not self._needs_trial(cached, test):
                test.reused += 1
                return cached
            with open_probe(driver, INDEXED) as probe:
                if cached is None or self._needs_trial(cached, test):
                    test.examined += 1
                    cached = self._examine(probe, statement.text, parameters, version, test)
                    if cached.note is None or cached.note.startswith("not examined"):
                        self._keep(key, cached)
                else:
                    test.reused += 1
                if per_run:
                    return self._per_run(probe, cached, statement.text, parameters)
                return cached
        except ProbeUnavailable as reason:
            return Examination(note=str(reason))
        except Exception as error:  # noqa: BLE001 (the probe must never break the user's test)
            return Examination(note=f"{_describe(error)}")

    def _version(self, driver: Driver) -> SchemaVersion:
        """The schema version: its content hash, computed once per value of the cheap signal
        (a suite whose fixtures build the same schema for each test shares examinations)."""
        signal = catalog.schema_signal(driver)
        version = self._versions.get(signal)
        if version is None:
            version = replace(signal, catalog=catalog.schema_content(driver))
            if len(self._versions) >= _MAX_CACHED:
                self._versions.clear()
            self._versions[signal] = version
        return version

    @staticmethod
    def _needs_trial(exam: Examination, test: TestExaminations) -> bool:
        """Whether an examination whose trial indexes were skipped (every whole-table read was
        accepted in the test that made it) must be made again: this test accepts fewer."""
        return exam.trial_skipped and not all(accepted(read, test.allowed) for read in exam.reads)

    def _relation_facts(
        self, probe: Probe, relations: list[tuple[str, str]], version: SchemaVersion
    ) -> list[catalog.RelationFacts]:
        """The catalog's facts about these relations, asked once per relation and schema
        version (a module's statements read the same few tables)."""
        found = {relation: self._facts.get((relation, version)) for relation in relations}
        missing = [relation for relation, facts in found.items() if facts is None]
        for facts in catalog.relation_facts(probe, missing):
            found[(facts.schema, facts.name)] = facts
            with self._lock:
                if len(self._facts) >= _MAX_CACHED:
                    self._facts.clear()
                self._facts[((facts.schema, facts.name), version)] = facts
        return [facts for facts in found.values() if facts is not None]

    def _keep(self, key: tuple[str, SchemaVersion], examination: Examination) -> None:
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[key] = examination

    def _examine(
        self,
        probe: Probe,
        text: str,
        parameters: Any,
        version: SchemaVersion,
        test: TestExaminations,
    ) -> Examination:
        exam = Examination(server_major=probe.server_major, current_schema=version.current_schema)
        planned = catalog.planned_user_functions(probe, called_functions(text))
        if planned:
            exam.note = (
                "not examined: planning it would run "
                + ", ".join(sorted(planned))
                + " (the application's immutable or stable functions)"
            )
            return exam
        target = explain.Statement(probe, text, parameters)
        try:
            exam.plan = target.plan()
        except StepFailed as error:
            exam.note = f"EXPLAIN failed: {error}"
            return exam
        exam.generic = bool(target.generic)
        relations = {
            (node.get("Schema") or "", node["Relation Name"])
            for node in plan_nodes(exam.plan)
            if "Relation Name" in node
        }
        for facts in self._relation_facts(probe, sorted(relations), version):
            usable = [index for index in facts.indexes if index.valid and not index.partial]
            exam.facts[(facts.schema, facts.name)] = TableFacts(
                facts.schema,
                facts.name,
                facts.kind,
                facts.columns,
                tuple(index.columns for index in usable),
                facts.root,
            )
            exam.indexes[(facts.schema, facts.name)] = [index.definition for index in facts.indexes]
            exam.index_columns.update((index.name, index.columns) for index in facts.indexes)
        index_columns = exam.index_columns
        exam.reads = whole_reads(exam.plan, index_columns)
        exam.lint_hits = lint_plans(exam.plan)
        if exam.reads and self.trials:
            if all(accepted(read, test.allowed) for read in exam.reads):
                exam.trial_skipped = True  # the test accepts them: no index to look for
            else:
                exam.candidates = candidates_for(
                    exam.plan, exam.reads, exam.facts, version.current_schema
                )
                if exam.candidates:
                    self._try(target, exam)
        return exam

    def _try(self, target: explain.Statement, exam: Examination) -> None:
        """Create every candidate at once, explain again, keep what the new plan uses."""
        triggers = catalog.ddl_event_triggers(target.probe)
        if triggers:
            exam.trial_error = f"the database has event triggers on DDL ({', '.join(triggers)})"
            return
        trials = {f"dbguard_trial_{n}": candidate for n, candidate in enumerate(exam.candidates)}
        creates = [
            candidate.create_sql(concurrently=False, name=name)
            for name, candidate in trials.items()
        ]
        tables = sorted({candidate.target for candidate in exam.candidates})
        try:
            after = target.plan_with_indexes(creates, tables)
        except StepFailed as error:
            exam.trial_error = str(error)
            return
        new_indexes = [
            (node["Index Name"], _root_of(exam, (node.get("Schema") or "", node["Relation Name"])))
            for node in _index_scans(after)
            if node["Index Name"] not in exam.index_columns
        ]
        used = tuple(
            candidate
            for name, candidate in trials.items()
            if any(
                index == name
                or (candidate.partitioned and table == (candidate.schema, candidate.table))
                for index, table in new_indexes
            )
        )
        index_columns = dict(exam.index_columns)
        index_columns.update((name, candidate.columns) for name, candidate in trials.items())
        remaining = {read.key for read in whole_reads(after, index_columns)}
        removed = tuple(read for read in exam.reads if read.key not in remaining)
        if used and removed:
            names = {name: candidate.name for name, candidate in trials.items()}
            exam.fix = Fix(used, removed, after, names)

    def _per_run(
        self, probe: Probe, cached: Examination, text: str, parameters: Any
    ) -> Examination:
        """The parts that depend on the test's values: the as-is plan and EXPLAIN ANALYZE."""
        exam = Examination(**{name: getattr(cached, name) for name in cached.__dataclass_fields__})
        target = explain.Statement(probe, text, parameters)
        if self.as_is and cached.plan is not None:
            try:
                probe.execute(pin_settings_sql(AS_IS, probe.server_major))
                exam.as_is_plan = target.custom_plan()
            except StepFailed as error:
                exam.note = f"EXPLAIN failed: {error}"
        if self.analyze and cached.plan is not None:
            why_not = cannot_act(probe, cached.plan)
            if why_not:
                exam.analyze_note = why_not
            else:
                try:
                    exam.analyzed_plan = target.analyzed_plan()
                except StepFailed as error:
                    exam.analyze_note = f"EXPLAIN ANALYZE failed: {error}"
        return exam


def accepted(read: WholeRead, allowed: frozenset[str]) -> bool:
    """Whether the test accepts this whole-table read (``allow_seqscan`` names the table, bare or
    with its schema)."""
    return read.table in allowed or f"{read.schema}.{read.table}" in allowed


def _index_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes that use an index, with the table it belongs to (a Bitmap Index Scan's is on the
    Bitmap Heap Scan above it)."""
    found = []
    for node in plan_nodes(plan):
        if node.get("Node Type") == "Bitmap Heap Scan":
            for child in plan_nodes(node):
                if child.get("Index Name"):
                    found.append(
                        {
                            **child,
                            "Relation Name": node["Relation Name"],
                            "Schema": node.get("Schema"),
                        }
                    )
        elif node.get("Index Name") and "Relation Name" in node:
            found.append(node)
    return found


def _root_of(exam: Examination, relation: tuple[str, str]) -> tuple[str, str]:
    facts = exam.facts.get(relation)
    return facts.root if facts is not None and facts.root else relation


def cannot_act(probe: Probe, plan: dict[str, Any]) -> str | None:
    """Why EXPLAIN ANALYZE must not run this statement (it would execute it), or None when it
    cannot act: a plain read, calling no function that may act (volatile), reading no foreign
    table."""
    names: set[str] = set()
    for node in plan_nodes(plan):
        if node.get("Node Type") in _ACTING_NODES:
            return f"it is not a plain read ({node['Node Type']})"
        for value in node.values():
            if isinstance(value, str):
                names.update(_FUNCTION_CALL.findall(value))
            elif isinstance(value, list):
                names.update(name for item in value for name in _FUNCTION_CALL.findall(str(item)))
    acting = catalog.volatile_functions(probe, {name.lower() for name in names})
    if acting:
        return f"it calls functions that may act: {', '.join(sorted(acting))}"
    return None


_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_$]*)\s*\(")
# Words before a parenthesis that are no function of the application's: SQL syntax, and the
# built-in functions ORM statements use most (a name defined in pg_catalog is never asked about:
# these only spare the catalog query).
_NOT_APPLICATION_FUNCTIONS = frozenset(
    """
    select from where and or not in exists any all some values as on using join lateral over
    filter within group partition cast row array case when then else end coalesce nullif
    greatest least count sum avg min max lower upper length now concat substring position
    trim extract date_trunc array_agg string_agg json_build_object jsonb_build_object
    json_agg jsonb_agg to_char to_date to_timestamp abs round floor ceil random returning
    into set insert update delete limit offset order by having distinct union intersect
    except with recursive
    """.split()  # noqa: SIM905
)


def called_functions(text: str) -> set[str]:
    """Names written as a call in ``text`` that may be the application's functions."""
    names = {match.group(1).lower() for match in _CALL.finditer(fingerprint(text))}
    return names - _NOT_APPLICATION_FUNCTIONS


def _one_row(parameters: Any, executemany: bool) -> Any:
    """One parameter set of a batch (insertmanyvalues batches send a single set)."""
    if executemany and isinstance(parameters, (list, tuple)):
        return parameters[0] if parameters else None
    return parameters


def _describe(error: BaseException) -> str:
    """An error of the probe as its note shows it: the driver's or the server's message, or,
    for anything else, the plugin's own bug."""
    module = type(error).__module__.split(".")[0]
    if module in ("psycopg", "psycopg2", "asyncpg", "sqlalchemy"):
        return first_line(error)
    name = type(error).__name__
    return f"internal error in pytest-dbguard, please report it: {name}: {first_line(error)}"
