"""Scale-factor markers: ``@pytest.mark.constant_queries(populate, ...)`` and
``@pytest.mark.linear_queries(populate, slope=1, ...)`` run the test's body once per scale
factor (after a warm-up run), each after ``populate(session, n)``, with the same rollback and
verdict as ``dbguard.assert_constant_queries`` (``api.py``). For sync test functions; async
code uses ``await dbguard.assert_constant_queries_async(...)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest

from ..outcome import state
from .api import (
    DEFAULT_SCALES,
    ScaleAssertions,
    _check_scales,
    _check_slope,
    bind_scaling,
    plan_for_marker,
    run_plan,
)
from .rollback import RollbackProblem, resolve

MARKERS = {
    "constant_queries": "constant_queries(populate, *, scales=(2, 5), session='session', "
    "warmup=True): run the test body at each scale factor after populate(session, n), rolled "
    "back between them, and fail unless it runs as many queries at each (pytest-dbguard)",
    "linear_queries": "linear_queries(populate, *, slope=1, scales=(2, 5), session='session', "
    "warmup=True): as constant_queries, but the count may grow by at most slope queries per "
    "unit of scale (pytest-dbguard)",
}
_KEYWORDS = {"populate", "scales", "session", "warmup", "reason"}


@dataclass(frozen=True)
class ScaleSpec:
    name: str
    populate: Any
    scales: tuple[int, ...]
    session: str
    warmup: bool
    slope: float | None
    source: str


SCALE_SPEC = pytest.StashKey[ScaleSpec | None]()


def pytest_configure(config: pytest.Config) -> None:
    for description in MARKERS.values():
        config.addinivalue_line("markers", description)


def _show(value: Any) -> str:
    return getattr(value, "__name__", None) or repr(value)


def _describe(mark: pytest.Mark) -> str:
    args = [_show(arg) for arg in mark.args]
    args += [
        f"{key}={_show(value) if key == 'populate' else repr(value)}"
        for key, value in mark.kwargs.items()
    ]
    return f"@pytest.mark.{mark.name}({', '.join(args)})"


def read_scale_spec(item: pytest.Item) -> ScaleSpec | None:
    """The test's scale marker, validated; ``ValueError`` says what is wrong."""
    marks = [item.get_closest_marker(name) for name in MARKERS]
    found = [mark for mark in marks if mark is not None]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError("constant_queries and linear_queries on one test: keep one")
    mark = found[0]
    known = _KEYWORDS | ({"slope"} if mark.name == "linear_queries" else set())
    unknown = sorted(set(mark.kwargs) - known)
    if unknown:
        raise ValueError(
            f"unknown keyword argument {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    populate = mark.args[0] if mark.args else mark.kwargs.get("populate")
    if len(mark.args) > 1:
        raise ValueError("takes one positional argument, populate(session, n)")
    if not callable(populate) or inspect.iscoroutinefunction(populate):
        raise ValueError(
            f"populate must be a function populate(session, n), not {populate!r} (async code: "
            "await dbguard.assert_constant_queries_async(...) in the test)"
        )
    if inspect.iscoroutinefunction(getattr(item, "obj", None)):
        raise ValueError(
            "the test is a coroutine function: use await dbguard."
            f"assert_{mark.name}_async(...) in its body instead of the marker"
        )
    session = mark.kwargs.get("session", "session")
    if not isinstance(session, str) or session not in getattr(item, "fixturenames", ()):
        raise ValueError(
            f"session={session!r} must name a fixture the test requests (the Session or "
            "Connection populate writes through)"
        )
    warmup = mark.kwargs.get("warmup", True)
    if not isinstance(warmup, bool):
        raise ValueError(f"warmup must be True or False, not {warmup!r}")
    scales = _check_scales(mark.kwargs.get("scales", DEFAULT_SCALES))
    slope = _check_slope(mark.kwargs.get("slope", 1)) if mark.name == "linear_queries" else None
    return ScaleSpec(mark.name, populate, scales, session, warmup, slope, _describe(mark))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    try:
        item.stash[SCALE_SPEC] = read_scale_spec(item)
    except ValueError as problem:
        marks = [m for m in (item.get_closest_marker(name) for name in MARKERS) if m]
        pytest.fail(f"usage error: {item.nodeid}: {_describe(marks[0])}: {problem}", pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    spec = pyfuncitem.stash.get(SCALE_SPEC, None)
    if spec is None:
        return None
    __tracebackhide__ = True
    function = pyfuncitem.obj
    # the test function's own arguments, read as pytest's own pytest_pyfunc_call reads them
    names = pyfuncitem._fixtureinfo.argnames  # noqa: SLF001
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    session = pyfuncitem.funcargs[spec.session]
    guard = ScaleAssertions()
    _bind(guard, pyfuncitem)
    try:
        target = resolve(session)
    except RollbackProblem as problem:
        pytest.fail(f"usage error: {pyfuncitem.nodeid}: {spec.source}: {problem}", pytrace=False)
    plan = plan_for_marker(
        spec.source,
        lambda n: spec.populate(session, n),
        lambda: function(**arguments),
        target,
        spec.scales,
        spec.warmup,
        spec.slope,
        spec.source,
        guard,
    )
    run_plan(plan)
    return True


def _bind(guard: ScaleAssertions, item: pytest.Item) -> None:
    config = item.config
    settings = config.stash[state.SETTINGS]
    record = item.stash.get(state.RECORD, None)
    if settings.disable or record is None:
        bind_scaling(guard, item.nodeid)  # turned off: the steps run, unchecked
        return
    findings = item.stash.setdefault(state.BLOCK_FINDINGS, [])
    bind_scaling(guard, item.nodeid, config.stash[state.CAPTURE], record, settings, findings)
