"""pytest wiring: options, markers, capture around each test, verdicts, summary.

The logic lives in the private modules; this module only connects it to pytest's hooks.
State lives in ``config.stash`` and ``item.stash``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Generator
from pathlib import Path

import pytest

from ._budget import check_budget, count_whole_test
from ._callsite import CallSiteFinder
from ._capture import Capture, Record
from ._findings import DBGuardFailure, DBGuardWarning, Finding
from ._markers import MARKERS, TestSpec, read_spec
from ._nplusone import find_duplicates, find_nplusone
from ._settings import Settings, add_options, read_settings
from ._store import SnapshotStore, StoreResult
from ._summary import USER_PROPERTY, Summary
from ._verdicts import check_plans, explain_warnings, seqscan_findings
from .fixtures import DBGuard

_SETTINGS = pytest.StashKey[Settings]()
_CAPTURE = pytest.StashKey[Capture]()
_SUMMARY = pytest.StashKey[Summary]()
_SPEC = pytest.StashKey[TestSpec]()
_RECORD = pytest.StashKey[Record]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for description in MARKERS.values():
        config.addinivalue_line("markers", description)
    settings = read_settings(config)
    finder = CallSiteFinder(str(config.rootpath), settings.library_modules, settings.user_modules)
    capture = Capture(finder, settings.nplusone_threshold, settings.callsites == "all")
    capture.install()
    config.add_cleanup(capture.uninstall)
    config.stash[_SETTINGS] = settings
    config.stash[_CAPTURE] = capture
    summary = Summary()
    config.stash[_SUMMARY] = summary
    config.pluginmanager.register(_Reporting(config, summary), "dbguard-reporting")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[_SETTINGS]
    for item in items:
        item.stash[_SPEC] = read_spec(item, settings)


def _spec(item: pytest.Item) -> TestSpec:
    spec = item.stash.get(_SPEC, None)
    if spec is None:
        spec = item.stash[_SPEC] = read_spec(item, item.config.stash[_SETTINGS])
    return spec


def _checks_plans(item: pytest.Item) -> bool:
    return item.config.stash[_SETTINGS].plans or _spec(item).snapshot_plans


@pytest.fixture
def dbguard(request: pytest.FixtureRequest) -> DBGuard:
    """The current test's captured statements, and block-level query budgets."""
    record = request.node.stash.get(_RECORD, None)
    if record is None:
        raise pytest.UsageError("the dbguard fixture is only available in test functions")
    return DBGuard(record, request.config.stash[_SETTINGS])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    settings = item.config.stash[_SETTINGS]
    capture = item.config.stash[_CAPTURE]
    record = Record(item.nodeid, settings.max_recorded)
    record.explain_seqscan = settings.seqscan != "off"
    record.explain_plans = _checks_plans(item)
    item.stash[_RECORD] = record
    if settings.count_setup:
        capture.active = record
    try:
        return (yield)
    finally:
        capture.active = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    capture = item.config.stash[_CAPTURE]
    record = item.stash.get(_RECORD, None)
    if record is None:
        return (yield)
    record.phase = "call"
    capture.active = record
    try:
        result = yield
    finally:
        capture.active = None
    _judge(item, record)
    return result


def _judge(item: pytest.Item, record: Record) -> None:
    settings = item.config.stash[_SETTINGS]
    spec = _spec(item)
    findings: list[Finding] = []
    for budget in spec.budgets:
        count = count_whole_test(budget, record)
        finding = check_budget(budget, record, count, (0, None), settings.show_params)
        if finding is not None:
            findings.append(finding)
    if settings.nplusone != "off" and not spec.allow_nplusone:
        findings += find_nplusone(record, settings.nplusone_threshold, settings.nplusone)
    if settings.duplicates != "off":
        findings += find_duplicates(record, settings.nplusone_threshold, settings.duplicates)
    findings += explain_warnings(record)
    if settings.seqscan != "off":
        findings += seqscan_findings(record, spec.allow_seqscan, settings.seqscan)
    if _checks_plans(item):
        plan_findings, write = check_plans(
            record,
            item.nodeid,
            item.path,
            item.config.rootpath,
            settings.cost_tolerance,
            settings.update,
            settings.plans_postgresql,
        )
        findings += plan_findings
        record.snapshot_write = write
    record.findings += findings
    for finding in findings:
        if finding.verdict == "warn":
            _warn(item, finding)
    failures = [finding.message for finding in findings if finding.verdict == "fail"]
    if failures:
        raise DBGuardFailure("\n\n".join(failures))


def _warn(item: pytest.Item, finding: Finding) -> None:
    """A warning located at the user's call site (or the test), not inside the plugin."""
    if finding.site is not None:
        filename, lineno = finding.site.path, finding.site.lineno
    else:
        filename, lineno = item.location[0], (item.location[1] or 0) + 1
    warnings.warn_explicit(DBGuardWarning(finding.message), DBGuardWarning, filename, lineno)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.stash.get(_RECORD, None)
    if record is not None and call.when == "call":
        report.user_properties.append((USER_PROPERTY, _payload(item, record)))
    elif record is not None and call.when == "teardown":
        del item.stash[_RECORD]  # a session of many tests keeps no records
    return report


def _payload(item: pytest.Item, record: Record) -> dict[str, object]:
    """What the summary and reports need of a test: plain data, so that pytest-xdist can send
    it from a worker to the controller."""
    counted_kinds = item.config.stash[_SETTINGS].count_kinds
    write = record.snapshot_write
    return {
        "snapshot": None if write is None else {"path": write.path, "text": write.text},
        "total": record.total,
        "counted": sum(
            statement.count
            for statement in record.shapes()
            if statement.shape.kind in counted_kinds
        ),
        "findings": [finding.as_dict() for finding in record.findings],
        "plans_skipped_on": record.plans_skipped_on,
    }


class _Reporting:
    """Session-wide work, wherever the tests ran: collects each test's payload from its report,
    writes snapshots at the end (never in a pytest-xdist worker) and the terminal summary."""

    def __init__(self, config: pytest.Config, summary: Summary) -> None:
        self.config = config
        self.summary = summary
        self.store = SnapshotStore(config.rootpath)
        self.result: StoreResult | None = None
        self.store.mark_incomplete(_node_id_arguments(config))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.store.add_collected((item.nodeid, _checks_plans(item)) for item in session.items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.store.mark_incomplete(item.nodeid for item in items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, payload in report.user_properties:
            if name == USER_PROPERTY and isinstance(payload, dict):
                outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
                self.summary.add(report.nodeid, {**payload, "outcome": outcome})
                if payload.get("snapshot"):
                    self.store.writes[payload["snapshot"]["path"]] = payload["snapshot"]["text"]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # the controller writes
        settings = self.config.stash[_SETTINGS]
        self.result = self.store.finish(
            update=settings.update, orphans=settings.update or settings.plans
        )
        if self.result.errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        lines = self.summary.lines(verbose=config.get_verbosity() > 0)
        if self.result is not None:
            lines += self.store.lines(self.result)
        if lines:
            terminalreporter.write_sep("=", "dbguard")
            for line in lines:
                terminalreporter.write_line(line)


def _node_id_arguments(config: pytest.Config) -> list[str]:
    """Modules named with ``::`` on the command line run in part: no orphans there."""
    modules = []
    for argument in config.args:
        if "::" in argument:
            path = Path(config.invocation_params.dir, argument.split("::", 1)[0]).resolve()
            with contextlib.suppress(ValueError):
                modules.append(path.relative_to(config.rootpath).as_posix())
    return modules
