"""The ``dbguard`` fixture: the current test's capture, and budgets for one block."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from .capture.callsites import CallSite
from .capture.record import LogEntry, Record
from .errors import DBGuardFailure, DBGuardWarning
from .findings import Finding
from .markers import budget_from_arguments
from .options import Settings
from .outcome import state
from .probe.catalog import schema_rows
from .probe.separate import separate_connection
from .rules.budgets import Budget, check_budget, count_whole_test
from .rules.schema import SchemaFinding, schema_findings
from .scaling.api import ScaleAssertions, bind_scaling


@pytest.fixture
def dbguard(request: pytest.FixtureRequest) -> DBGuard:
    """The current test's captured statements, and block-level query budgets.

    With pytest-dbguard turned off (--dbguard-disable), a ``DisabledDBGuard``: blocks run
    unchecked, and reading the capture skips the test."""
    if request.config.stash[state.SETTINGS].disable:
        disabled = DisabledDBGuard()
        bind_scaling(disabled, request.node.nodeid)  # scale assertions run their steps unchecked
        return disabled
    record = request.node.stash.get(state.RECORD, None)
    if record is None:
        raise pytest.UsageError("the dbguard fixture is only available in test functions")
    findings = request.node.stash.setdefault(state.BLOCK_FINDINGS, [])
    guard = DBGuard(record, request.config.stash[state.SETTINGS], findings)
    bind_scaling(guard, request.node.nodeid, request.config.stash[state.CAPTURE], record,
                 request.config.stash[state.SETTINGS], findings)  # fmt: skip
    return guard


def check_engine(engine: Engine) -> list[SchemaFinding]:
    """The schema checks of one engine's database, on a connection of the plugin's own (never
    one of the engine's pool, which the test may be holding)."""
    with separate_connection(engine) as driver:
        return schema_findings(schema_rows(driver.rows))


@dataclass(frozen=True, slots=True)
class Query:
    """One captured statement."""

    sql: str  # the text sent to the driver
    fingerprint: str  # its normalized shape: literals and parameters are ``?``
    kind: str  # select, insert, update, delete, ddl, transaction or other
    call_site: CallSite | None  # None for repeats beyond the sampled first runs
    executemany: bool
    batch_size: int  # parameter sets sent at once (1 unless executemany)
    dialect: str
    phase: str  # "call", or "setup" with dbguard_count_setup
    counted: bool  # whether it counts against budgets by default
    parameters: Any = field(default=None, repr=False, compare=False)  # never printed


class DBGuard(ScaleAssertions):
    """What pytest-dbguard captured in the current test.

    ``queries`` lists the statements in order (the first ``dbguard_max_recorded``);
    ``count()`` is exact whatever the number.
    """

    enabled = True  # False when pytest-dbguard is turned off: see DisabledDBGuard

    def __init__(self, record: Record, settings: Settings, findings: list[Finding]) -> None:
        self._record = record
        self._settings = settings
        self._findings = findings  # failed blocks, for the reports

    @property
    def queries(self) -> list[Query]:
        return [self._query(entry) for entry in self._record.entries()]

    def count(self, *, kinds: Iterable[str] | str | None = None, match: str | None = None) -> int:
        """How many statements ran so far, counted as a budget with these filters counts them."""
        budget = self._budget("count", 0, kinds, match, "count")
        return count_whole_test(budget, self._record)

    @contextmanager
    def max_queries(
        self, n: int, *, kinds: Iterable[str] | str | None = None, match: str | None = None
    ) -> Iterator[DBGuard]:
        """Fail the test if the block runs more than ``n`` counted statements."""
        with self._budget_block("max_queries", n, kinds, match):
            yield self

    @contextmanager
    def num_queries(
        self, n: int, *, kinds: Iterable[str] | str | None = None, match: str | None = None
    ) -> Iterator[DBGuard]:
        """Fail the test unless the block runs exactly ``n`` counted statements."""
        with self._budget_block("num_queries", n, kinds, match):
            yield self

    def check_schema(self, engine: Engine, *, mode: str = "fail") -> list[SchemaFinding]:
        """Check one engine's schema now: unindexed foreign keys, tables without a primary
        key, redundant indexes. ``mode="fail"`` fails the test on a finding, ``"warn"`` warns;
        the findings are returned either way. The checks' statements are not captured."""
        if mode not in ("fail", "warn"):
            raise ValueError(f"dbguard.check_schema(mode={mode!r}): mode is 'fail' or 'warn'")
        findings = check_engine(engine)
        if findings:
            text = "\n".join(
                [f"Schema checks: {len(findings)} finding(s)"]
                + [f"  {finding.summary}\n    {finding.fix}" for finding in findings]
            )
            if mode == "fail":
                raise DBGuardFailure(text)
            warnings.warn(DBGuardWarning(text), stacklevel=2)
        return findings

    @contextmanager
    def allow_nplusone(self) -> Iterator[None]:
        """Statements run inside this block are never judged as N+1 patterns."""
        window = [self._record.total, sys.maxsize]
        self._record.nplusone_allowed.append(window)
        try:
            yield
        finally:
            window[1] = self._record.total

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """The statements of this block are one unit of work for the N+1 and duplicate checks,
        whatever sessions, connections and transactions they use, and apart from the test's
        other statements (a request, a job, a batch: what a loop over rows would be an N+1
        within)."""
        unit = self._record.mark_unit()
        try:
            yield
        finally:
            self._record.marked.remove(unit)

    def _budget(self, name: str, n: int, kinds: Any, match: Any, source: str) -> Budget:
        kwargs = {"kinds": kinds, "match": match}
        try:
            return budget_from_arguments(name, (n,), kwargs, self._settings, source)
        except ValueError as problem:
            raise ValueError(f"dbguard.{name}({n!r}): {problem}") from None

    @contextmanager
    def _budget_block(self, name: str, n: int, kinds: Any, match: Any) -> Iterator[None]:
        caller = sys._getframe(  # noqa: SLF001 (CPython's documented fast frame access)
            3
        )  # _budget_block <- contextlib <- max_queries <- contextlib <- user
        while caller.f_back is not None and caller.f_code.co_filename in (__file__, _CONTEXTLIB):
            caller = caller.f_back
        source = f"dbguard.{name}({n!r}) at {_location(caller)}"
        budget = self._budget(name, n, kinds, match, source)
        record = self._record
        start = record.total
        before = {id(statement): statement.count for statement in record.shapes()}
        yield
        count = sum(
            statement.count - before.get(id(statement), 0)
            for statement in record.shapes()
            if budget.counts(statement)
        )
        runs = (start, record.total)
        finding = check_budget(budget, record, count, runs, self._settings.show_params)
        if finding is not None:
            self._findings.append(finding)
            raise DBGuardFailure(finding.message)

    def _query(self, entry: LogEntry) -> Query:
        statement = entry.statement
        batch = entry.batch_size
        return Query(
            sql=entry.text,
            fingerprint=statement.shape.fingerprint,
            kind=statement.shape.kind,
            call_site=entry.site,
            executemany=entry.executemany,
            batch_size=batch,
            dialect=statement.dialect,
            phase=entry.phase,
            counted=statement.shape.kind in self._settings.count_kinds,
            parameters=entry.parameters,
        )


class DisabledDBGuard(DBGuard):
    """The ``dbguard`` fixture when pytest-dbguard is turned off (``--dbguard-disable`` / ini
    ``dbguard_disable``): nothing is captured, nothing is checked.

    The test's code runs as written: ``max_queries`` / ``num_queries`` / ``allow_nplusone``
    blocks run their body without a check, and ``check_schema`` checks nothing and returns
    ``[]``. What needs the capture (``queries``, ``count()``) skips the test, which cannot be
    checked without it. ``enabled`` is False."""

    enabled = False
    _SKIP = "pytest-dbguard is turned off (--dbguard-disable): nothing is captured, {what}"

    def __init__(self) -> None:
        pass  # no record, no settings: nothing to check

    @property
    def queries(self) -> list[Query]:
        pytest.skip(self._SKIP.format(what="dbguard.queries is not available"))

    def count(self, *_args: Any, **_kwargs: Any) -> int:
        pytest.skip(self._SKIP.format(what="dbguard.count() is not available"))

    @contextmanager
    def max_queries(self, *_args: Any, **_kwargs: Any) -> Iterator[DBGuard]:
        yield self

    @contextmanager
    def num_queries(self, *_args: Any, **_kwargs: Any) -> Iterator[DBGuard]:
        yield self

    def check_schema(self, *_args: Any, **_kwargs: Any) -> list[SchemaFinding]:
        return []

    @contextmanager
    def allow_nplusone(self) -> Iterator[None]:
        yield

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        yield


_CONTEXTLIB = sys.modules[contextmanager.__module__].__file__


def _location(frame: Any) -> str:
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
