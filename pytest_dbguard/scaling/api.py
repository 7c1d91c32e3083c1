"""Scale-factor assertions (after Ruby's n_plus_one_control): run a block at two or more scale
factors and assert that the number of statements it runs is constant, or grows at most
linearly with a stated slope.

For each scale factor ``n`` (after one warm-up run at the first, which pays for caches,
first-connection queries and compiled statements): a SAVEPOINT on the session the user names,
``populate(n)`` (flushed), the block, and a rollback to the savepoint (``rollback.py``).
Only the block's statements are counted, as budgets count them (``dbguard_count_kinds``).

Where the statements go: those of the savepoint, of ``populate``, of the warm-up and of the
smaller scales are kept in throwaway records (never examined, never judged: the repeated runs
would otherwise look like duplicates and N+1 patterns); the block's run at the largest scale
is recorded in the test's own record, like any statement of the test, so the test's budget,
its N+1 verdicts (which a ``linear`` assertion accepts for that run), missing indexes and
``dbguard.queries`` see it once.
"""

from __future__ import annotations

import inspect
import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import pytest

from ..capture.callsites import CallSite
from ..capture.listeners import Capture
from ..capture.record import LazyLoads, Record, Shape, Statement
from ..errors import DBGuardFailure
from ..findings import Finding
from ..options import Settings
from ..rules.scaling import Expectation, ShapeRuns, scaling_finding
from .rollback import RollbackProblem, Savepoint, is_async, resolve

DEFAULT_SCALES = (2, 5)


class _Throwaway(Record):
    """A record whose statements are never handed to the examiner: no EXPLAIN for populate,
    the warm-up and the smaller scales."""

    def statement_for(self, text: str, shape: Shape, dialect: str) -> Statement:
        statement = super().statement_for(text, shape, dialect)
        statement.examined = True
        return statement


@dataclass
class _Window:
    """The block's run at one scale, in one record."""

    record: Record
    start: int
    before: dict[str, int]
    end: int = 0
    runs: dict[str, int] = field(default_factory=dict)  # counted runs by fingerprint


@dataclass(frozen=True)
class _Phase:
    label: str
    scale: int
    measured: bool
    final: bool


class _Measure:
    """Points capture at the right record for each step (nothing to do when disabled)."""

    def __init__(self, capture: Capture | None, record: Record | None, settings: Settings | None):
        self.capture = capture
        self.record = record
        self.kinds = settings.count_kinds if settings is not None else frozenset()
        self.max_recorded = settings.max_recorded if settings is not None else 0

    def _throwaway(self) -> Record:
        assert self.capture is not None
        assert self.record is not None
        return _Throwaway(self.record.nodeid, self.max_recorded, self.capture.finder)

    @contextmanager
    def aside(self) -> Iterator[None]:
        if self.capture is None:
            yield
            return
        previous, self.capture.active = self.capture.active, self._throwaway()
        try:
            yield
        finally:
            self.capture.active = previous

    @contextmanager
    def window(self, phase: _Phase, windows: list[_Window]) -> Iterator[None]:
        if self.capture is None or self.record is None:
            yield
            return
        record = self.record if phase.final else self._throwaway()
        if not phase.measured:
            with self.aside():
                yield
            return
        window = _Window(record, record.total, self._counts(record))
        previous, self.capture.active = self.capture.active, record
        try:
            yield
        finally:
            self.capture.active = previous
            window.end = record.total
            after = self._counts(record)
            window.runs = {
                key: count - window.before.get(key, 0)
                for key, count in after.items()
                if count != window.before.get(key, 0)
            }
            windows.append(window)

    def _counts(self, record: Record) -> dict[str, int]:
        return {
            statement.shape.fingerprint: statement.count
            for statement in record.shapes()
            if statement.shape.kind in self.kinds
        }


@dataclass
class _Plan:
    """One assertion, validated."""

    name: str
    populate: Callable[[int], Any]
    run: Callable[[], Any]
    target: Any
    scales: tuple[int, ...]
    warmup: bool
    expected: Expectation
    measure: _Measure
    nodeid: str
    findings: list[Finding] | None
    windows: list[_Window] = field(default_factory=list)

    def phases(self) -> list[_Phase]:
        phases = [_Phase("the warm-up run", self.scales[0], False, False)] if self.warmup else []
        last = len(self.scales) - 1
        phases += [
            _Phase(f"scale {scale}", scale, True, index == last)
            for index, scale in enumerate(self.scales)
        ]
        return phases

    def usage_error(self, problem: str) -> pytest.UsageError:
        return pytest.UsageError(f"{self.nodeid}: {self.name}: {problem}")

    def verdict(self) -> dict[int, int]:
        """The counted statements per scale; fails the test when they break the assertion."""
        if not self.windows:
            return {}  # pytest-dbguard is turned off: the block ran, unchecked
        totals = [sum(window.runs.values()) for window in self.windows]
        final = self.windows[-1]
        if self.expected.slope is not None:  # per-row queries are what the user declared
            final.record.nplusone_allowed.append([final.start, final.end])
        finding = scaling_finding(self.expected, self.scales, totals, self._shapes())
        if finding is not None:
            if self.findings is not None:
                self.findings.append(finding)
            raise DBGuardFailure(finding.message)
        return dict(zip(self.scales, totals, strict=True))

    def _shapes(self) -> list[ShapeRuns]:
        keys = list(dict.fromkeys(key for window in self.windows for key in window.runs))
        shapes = []
        for key in keys:
            shape = ShapeRuns(key, [window.runs.get(key, 0) for window in self.windows])
            if len(set(shape.runs)) > 1:
                for window in self.windows:
                    _describe(shape, window)
            shapes.append(shape)
        return shapes


def _describe(shape: ShapeRuns, window: _Window) -> None:
    """Call sites and lazy-loaded relationships of the shape's sampled runs in the window."""
    statement = window.record.by_shape.get(shape.fingerprint)
    if statement is None:
        return
    loads = list(window.record.lazy_loads.values())
    for sample in statement.samples:
        if not window.start <= sample.seq < window.end:
            continue
        site = window.record.site(sample.site_key)
        if site is not None and site not in shape.sites:
            shape.sites.append(site)
        if sample.orm_load == "lazy":
            lazy = _lazy_load_of(loads, sample.seq)
            if lazy is not None and lazy not in shape.lazy:
                shape.lazy.append(lazy)


def _lazy_load_of(loads: list[LazyLoads], seq: int) -> tuple[str, str] | None:
    """The relationship whose lazy load sent the run ``seq``: the last one begun before it."""
    best: tuple[int, LazyLoads] | None = None
    for loads_ in loads:
        for begun in loads_.seqs:
            if begun <= seq and (best is None or begun > best[0]):
                best = (begun, loads_)
    if best is None:
        return None
    return best[1].relationship, best[1].fix


# -- validation ---------------------------------------------------------------------------------


def _check_scales(scales: Any) -> tuple[int, ...]:
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence):
        raise ValueError(f"scales must be a list of whole numbers, not {scales!r}")
    if len(scales) < 2:
        raise ValueError(f"scales needs at least two scale factors to compare, got {scales!r}")
    for scale in scales:
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"each scale factor must be a whole number of at least 1: {scales!r}")
    if any(later <= earlier for earlier, later in itertools.pairwise(scales)):
        raise ValueError(f"scales must increase, e.g. (2, 5): {scales!r}")
    return tuple(scales)


def _check_callable(role: str, function: Any, asynchronous: bool, name: str) -> None:
    if not callable(function):
        raise ValueError(f"{role} must be a callable, not {function!r}")
    if not asynchronous and inspect.iscoroutinefunction(function):
        raise ValueError(
            f"{role} is a coroutine function: use `await dbguard.{name}_async(...)` in async code"
        )


def _check_slope(slope: Any) -> float:
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or slope < 0:
        raise ValueError(f"slope must be a number of at least 0 (queries per unit), not {slope!r}")
    return float(slope)


# -- the API on the dbguard fixture -------------------------------------------------------------


@dataclass(frozen=True)
class ScaleContext:
    """What the scale-factor assertions of one test need (no capture: they run unchecked)."""

    nodeid: str = ""
    capture: Capture | None = None
    record: Record | None = None
    settings: Settings | None = None
    findings: list[Finding] | None = None


class ScaleAssertions:
    """The scale-factor assertions of the ``dbguard`` fixture (mixed into ``DBGuard``)."""

    scale_context: ScaleContext = ScaleContext()

    def assert_constant_queries(
        self,
        populate: Callable[[int], Any],
        run: Callable[[], Any],
        *,
        session: Any,
        scales: Sequence[int] = DEFAULT_SCALES,
        warmup: bool = True,
    ) -> dict[int, int]:
        """Fail unless ``run()`` runs as many statements after ``populate(n)`` for every ``n``
        in ``scales``. ``session`` is the Session (or Connection) populate writes through: each
        scale's data is rolled back to a savepoint on it. Returns the counts by scale."""
        __tracebackhide__ = True
        plan = self._scale_plan(
            "assert_constant_queries", populate, run, session, scales, warmup, None, False
        )
        return run_plan(plan)

    def assert_linear_queries(
        self,
        populate: Callable[[int], Any],
        run: Callable[[], Any],
        *,
        session: Any,
        slope: float = 1,
        scales: Sequence[int] = DEFAULT_SCALES,
        warmup: bool = True,
    ) -> dict[int, int]:
        """Fail if ``run()`` runs more than ``slope`` more statements per unit of scale (at
        most linear growth: fewer is fine). Otherwise as ``assert_constant_queries``."""
        __tracebackhide__ = True
        plan = self._scale_plan(
            "assert_linear_queries", populate, run, session, scales, warmup, slope, False
        )
        return run_plan(plan)

    async def assert_constant_queries_async(
        self,
        populate: Callable[[int], Any],
        run: Callable[[], Any],
        *,
        session: Any,
        scales: Sequence[int] = DEFAULT_SCALES,
        warmup: bool = True,
    ) -> dict[int, int]:
        """``assert_constant_queries`` for async code: ``populate`` and ``run`` may be
        coroutine functions, ``session`` an AsyncSession or AsyncConnection."""
        __tracebackhide__ = True
        plan = self._scale_plan(
            "assert_constant_queries_async", populate, run, session, scales, warmup, None, True
        )
        return await run_plan_async(plan)

    async def assert_linear_queries_async(
        self,
        populate: Callable[[int], Any],
        run: Callable[[], Any],
        *,
        session: Any,
        slope: float = 1,
        scales: Sequence[int] = DEFAULT_SCALES,
        warmup: bool = True,
    ) -> dict[int, int]:
        """``assert_linear_queries`` for async code (see ``assert_constant_queries_async``)."""
        __tracebackhide__ = True
        plan = self._scale_plan(
            "assert_linear_queries_async", populate, run, session, scales, warmup, slope, True
        )
        return await run_plan_async(plan)

    def _scale_plan(
        self,
        method: str,
        populate: Any,
        run: Any,
        session: Any,
        scales: Any,
        warmup: Any,
        slope: Any,
        asynchronous: bool,
    ) -> _Plan:
        __tracebackhide__ = True
        name = f"dbguard.{method}()"
        base = method.removesuffix("_async")
        try:
            _check_callable("populate", populate, asynchronous, base)
            _check_callable("run", run, asynchronous, base)
            checked = _check_scales(scales)
            rate = None if slope is None else _check_slope(slope)
            if not isinstance(warmup, bool):
                raise ValueError(f"warmup must be True or False, not {warmup!r}")
            target = resolve(session)
            if is_async(target) and not asynchronous:
                raise ValueError(
                    f"session is an async {type(target).__name__}: use "
                    f"`await dbguard.{base}_async(...)`"
                )
        except (ValueError, RollbackProblem) as problem:
            raise pytest.UsageError(f"{self.scale_context.nodeid}: {name}: {problem}") from None
        source = f"dbguard.{method}(scales={checked!r}"
        source += ")" if rate is None else f", slope={slope!r})"
        site = self._caller()
        if site is not None:
            source += f" at {site.path}:{site.lineno}"
        return _Plan(
            name,
            populate,
            run,
            target,
            checked,
            warmup,
            Expectation(rate, source),
            _Measure(
                self.scale_context.capture, self.scale_context.record, self.scale_context.settings
            ),
            self.scale_context.nodeid,
            self.scale_context.findings,
        )

    def _caller(self) -> CallSite | None:
        """The user's line that called the assertion."""
        capture = self.scale_context.capture
        if capture is None:
            return None
        frame: FrameType | None = sys._getframe(1)  # noqa: SLF001 (CPython's documented fast frame access)
        while frame is not None:
            if capture.finder.is_user(frame):
                return capture.finder.name((frame.f_code, frame.f_lineno))
            frame = frame.f_back
        return None


def bind_scaling(
    guard: ScaleAssertions,
    nodeid: str,
    capture: Capture | None = None,
    record: Record | None = None,
    settings: Settings | None = None,
    findings: list[Finding] | None = None,
) -> None:
    """Give the fixture what its scale-factor assertions need (no capture: run unchecked)."""
    guard.scale_context = ScaleContext(nodeid, capture, record, settings, findings)


def plan_for_marker(
    name: str,
    populate: Callable[[int], Any],
    run: Callable[[], Any],
    session: Any,
    scales: tuple[int, ...],
    warmup: bool,
    slope: float | None,
    source: str,
    guard: ScaleAssertions,
) -> _Plan:
    """A plan for ``@pytest.mark.constant_queries`` / ``linear_queries`` (validated already)."""
    return _Plan(
        name,
        populate,
        run,
        resolve(session),
        scales,
        warmup,
        Expectation(slope, source),
        _Measure(
            guard.scale_context.capture, guard.scale_context.record, guard.scale_context.settings
        ),
        guard.scale_context.nodeid,
        guard.scale_context.findings,
    )


# -- running ------------------------------------------------------------------------------------


def _returned(plan: _Plan, role: str, result: Any) -> None:
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: no "was never awaited" warning on top
        raise plan.usage_error(f"{role} returned an awaitable: use the _async variant and await it")


def run_plan(plan: _Plan) -> dict[int, int]:
    __tracebackhide__ = True
    for phase in plan.phases():
        savepoint = Savepoint(plan.target, phase.label)
        try:
            with plan.measure.aside():
                savepoint.begin()
            try:
                with plan.measure.aside():
                    _returned(plan, "populate", plan.populate(phase.scale))
                    savepoint.flush()
                with plan.measure.window(phase, plan.windows):
                    _returned(plan, "run", plan.run())
            except BaseException:
                with plan.measure.aside():
                    savepoint.end(failing=True)
                raise
            with plan.measure.aside():
                savepoint.end()
        except RollbackProblem as problem:
            raise plan.usage_error(str(problem)) from None
    return plan.verdict()


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


async def run_plan_async(plan: _Plan) -> dict[int, int]:
    __tracebackhide__ = True
    for phase in plan.phases():
        savepoint = Savepoint(plan.target, phase.label)
        try:
            with plan.measure.aside():
                await savepoint.abegin()
            try:
                with plan.measure.aside():
                    await _maybe_await(plan.populate(phase.scale))
                    await savepoint.aflush()
                with plan.measure.window(phase, plan.windows):
                    await _maybe_await(plan.run())
            except BaseException:
                with plan.measure.aside():
                    await savepoint.aend(failing=True)
                raise
            with plan.measure.aside():
                await savepoint.aend()
        except RollbackProblem as problem:
            raise plan.usage_error(str(problem)) from None
    return plan.verdict()
