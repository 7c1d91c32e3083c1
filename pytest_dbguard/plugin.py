"""pytest wiring: options, markers, capture around each test, the test's outcome, the session's
snapshots and reports.

The logic lives in the subpackages (capture -> probe -> rules -> outcome -> snapshots and
reports); this module only connects it to pytest's hooks. State lives in ``config.stash`` and
``item.stash`` (``outcome/state.py``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from .capture.callsites import CallSiteFinder
from .capture.listeners import Capture
from .capture.record import Record
from .errors import DBGuardFailure, DBGuardWarning
from .findings import Finding, Mode
from .fixtures import check_engine, dbguard  # noqa: F401  (the fixture, registered with the plugin)
from .markers import MARKERS, TestSpec, read_spec
from .migrations.report import PAYLOAD_ATTRIBUTE as MIGRATION_FINDINGS
from .options import Settings, add_options, read_settings
from .outcome import state
from .outcome.baseline import apply_baseline
from .outcome.examine import Examiner, TestExaminations
from .outcome.judge import TestOutcome, judge
from .outcome.payload import PAYLOAD_ATTRIBUTE, payload
from .outcome.plan_findings import examination_notes
from .outcome.plan_snapshots import check_plans
from .reports.session import SessionReports
from .rules.eager import find_unused_eager_loads
from .rules.schema import SchemaFinding

# Migration checks (--dbguard-migrations): loaded with this plugin, so -p no:dbguard
# turns them off too.
pytest_plugins = [
    "pytest_dbguard.migrations.plugin",
    "pytest_dbguard.eager_plugin",  # unused eager loads
    "pytest_dbguard.scaling.plugin",  # scale-factor assertions (markers)
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for description in MARKERS.values():
        config.addinivalue_line("markers", description)
    settings = read_settings(config)
    config.stash[state.SETTINGS] = settings
    if settings.disable:
        return  # markers registered, nothing else: as if the plugin were not installed
    finder = CallSiteFinder(str(config.rootpath), settings.library_modules, settings.user_modules)
    capture = Capture(finder, settings.nplusone_threshold, settings.callsites == "all")
    examiner = Examiner(
        trials=settings.seqscan is not Mode.OFF,
        as_is=settings.plans_as_is,
        analyze=settings.analyze,
    )
    capture.examiner = examiner
    config.stash[state.EXAMINER] = examiner
    capture.install()
    config.add_cleanup(capture.uninstall)
    config.stash[state.CAPTURE] = capture
    config.pluginmanager.register(SessionReports(config, settings), "dbguard-reporting")


def _examines(item: pytest.Item, settings: Settings) -> bool:
    """Whether the test's statements are examined (every PostgreSQL check but budgets and N+1
    needs their plans)."""
    return (
        settings.seqscan is not Mode.OFF
        or settings.lints is not Mode.OFF
        or settings.analyze
        or _checks_plans(item, settings)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[state.SETTINGS]
    if settings.disable:
        return
    for item in items:
        _spec(item)


def _spec(item: pytest.Item) -> TestSpec | None:
    """The test's markers, read once; a usage error is kept and raised when the test runs
    (so that it reads the same serially and in a pytest-xdist worker)."""
    spec = item.stash.get(state.SPEC, None)
    if spec is None and state.SPEC_ERROR not in item.stash:
        try:
            spec = item.stash[state.SPEC] = read_spec(item, item.config.stash[state.SETTINGS])
        except pytest.UsageError as error:
            item.stash[state.SPEC_ERROR] = str(error)
    return spec


def _checks_plans(item: pytest.Item, settings: Settings) -> bool:
    """--dbguard-plans (or the ini option) for every test, the marker for one; --dbguard-update
    alone updates the snapshots of the tests whose plans are checked."""
    spec = _spec(item)
    return settings.plans or bool(spec and spec.snapshot_plans)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    settings = item.config.stash[state.SETTINGS]
    if settings.disable:
        return (yield)
    if _spec(item) is None:
        pytest.fail(f"usage error: {item.stash[state.SPEC_ERROR]}", pytrace=False)
    capture = item.config.stash[state.CAPTURE]
    record = Record(item.nodeid, settings.max_recorded, capture.finder)
    item.stash[state.RECORD] = record
    capture.finder.start_test()
    if settings.count_setup:
        capture.active = record
    try:
        return (yield)
    finally:
        capture.active = None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """With dbguard_count_setup, only function-scoped fixtures are charged to the test: a
    session, package, module or class fixture is set up by whichever test needs it first, and
    its statements belong to none of them."""
    capture = request.config.stash.get(state.CAPTURE, None)
    if capture is None or capture.active is None or fixturedef.scope == "function":
        return (yield)
    paused, capture.active = capture.active, None
    try:
        return (yield)
    finally:
        capture.active = paused


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    record = item.stash.get(state.RECORD, None)
    if record is None:
        return (yield)
    config = item.config
    capture = config.stash[state.CAPTURE]
    examiner = config.stash[state.EXAMINER]
    examinations = TestExaminations()
    record.phase = "call"
    capture.active = record
    if _examines(item, config.stash[state.SETTINGS]):
        examinations.allowed = item.stash[state.SPEC].allow_seqscan
        examiner.current = examinations
    try:
        result = yield
    except BaseException:
        failed: list[Finding] = item.stash.get(state.BLOCK_FINDINGS, [])
        item.stash[state.OUTCOME] = TestOutcome(
            findings=list(failed),
            notes=examination_notes(record, examinations.examinations),
            examined=examinations.examined,
            reused=examinations.reused,
        )
        raise
    finally:
        capture.active = None
        examiner.current = None
    outcome = _judge(item, record, examinations)
    for finding in outcome.findings:
        if finding.verdict is Mode.WARN:
            _warn(item, finding)
    failures = [finding.message for finding in outcome.findings if finding.verdict is Mode.FAIL]
    # A failed `dbguard` block has raised already (the test may have expected it): reported,
    # not raised again.
    blocks: list[Finding] = item.stash.get(state.BLOCK_FINDINGS, [])
    outcome.findings[:0] = blocks
    item.stash[state.OUTCOME] = outcome
    if failures:
        raise DBGuardFailure("\n\n".join(failures))
    return result


def _judge(item: pytest.Item, record: Record, examinations: TestExaminations) -> TestOutcome:
    config = item.config
    settings = config.stash[state.SETTINGS]
    spec = _spec(item)
    assert spec is not None
    outcome = judge(record, examinations.examinations, spec, settings, _test_file_matcher(config))
    if eager_loads := item.stash.get(state.EAGER_LOADS, None):
        outcome.findings += find_unused_eager_loads(eager_loads, settings.unused_eager_loads)
    outcome.examined, outcome.reused = examinations.examined, examinations.reused
    if _checks_plans(item, settings):
        check_plans(
            outcome, record, examinations.examinations, item.nodeid, config.rootpath, settings
        )
    apply_baseline(config, item.nodeid, outcome.findings)
    return outcome


def _test_file_matcher(config: pytest.Config) -> Any:
    patterns = [*config.getini("python_files"), "conftest.py"]

    def is_test_file(path: str) -> bool:
        name = os.path.basename(path)
        return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)

    return is_test_file


def _warn(item: pytest.Item, finding: Finding) -> None:
    """A warning located at the user's call site (or the test), not inside the plugin."""
    if finding.site is not None:
        filename, lineno = finding.site.path, finding.site.lineno
    else:
        filename, lineno = item.location[0], (item.location[1] or 0) + 1
    warnings.warn_explicit(DBGuardWarning(finding.message), DBGuardWarning, filename, lineno)


def _session_schema(item: pytest.Item) -> list[SchemaFinding]:
    """Once per session (per pytest-xdist worker; the controller merges), on the first
    synchronous PostgreSQL engine the tests used, through a connection of the plugin's own."""
    config = item.config
    settings = config.stash[state.SETTINGS]
    if settings.schema is Mode.OFF or config.stash.get(state.SCHEMA_CHECKED, False):
        return []
    for reference in config.stash[state.CAPTURE].engines:
        engine = reference()
        if engine is None or engine.dialect.is_async:
            continue
        config.stash[state.SCHEMA_CHECKED] = True
        try:
            return check_engine(engine)
        except Exception as error:  # noqa: BLE001 (a failed schema check is a warning, never the test's error)
            warnings.warn(DBGuardWarning(f"schema checks failed: {error}"), stacklevel=1)
            return []
    return []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.stash.get(state.RECORD, None)
    if record is not None and call.when == "call":
        settings = item.config.stash[state.SETTINGS]
        outcome = item.stash.get(state.OUTCOME, None) or TestOutcome()
        data = payload(record, outcome, settings.count_kinds, _session_schema(item))
        setattr(report, PAYLOAD_ATTRIBUTE, data)
    elif record is not None and call.when == "teardown":
        del item.stash[state.RECORD]  # a session of many tests keeps no records
        with contextlib.suppress(KeyError):
            del item.stash[state.OUTCOME]
    return report


# What travels with a test's report from a pytest-xdist worker to the controller, as attributes
# of their own (not user properties: JUnit XML would print those).
_CARRIED = (PAYLOAD_ATTRIBUTE, MIGRATION_FINDINGS)


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    report: pytest.TestReport,
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    data = yield
    if data is not None:
        for name in _CARRIED:
            if (value := getattr(report, name, None)) is not None:
                data[name] = value
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(
    data: dict[str, Any],
) -> Generator[None, pytest.TestReport | None, pytest.TestReport | None]:
    report = yield
    if report is not None:
        for name in _CARRIED:
            if name in data:
                setattr(report, name, data[name])
    return report
