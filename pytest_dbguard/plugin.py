"""pytest wiring: options, markers, capture around each test, verdicts, summary.

The logic lives in the private modules; this module only connects it to pytest's hooks.
State lives in ``config.stash`` and ``item.stash``.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from ._budget import check_budget, count_whole_test
from ._callsite import CallSiteFinder
from ._capture import Capture, Record
from ._findings import DBGuardFailure, DBGuardWarning, Finding
from ._markers import MARKERS, TestSpec, read_spec
from ._nplusone import find_duplicates, find_nplusone
from ._report import build_json, github_summary, render_markdown
from ._schema import SchemaFinding, check_engine
from ._settings import Settings, add_options, read_settings
from ._snapshot import write_atomically
from ._store import SnapshotStore, StoreResult
from ._summary import Summary
from ._verdicts import (
    attach_plans,
    check_plans,
    explain_warnings,
    lint_findings,
    seqscan_findings,
)
from .fixtures import DBGuard

pytest_plugins = ["pytest_dbguard.migrations.plugin"]

_SETTINGS = pytest.StashKey[Settings]()
_CAPTURE = pytest.StashKey[Capture]()
_SUMMARY = pytest.StashKey[Summary]()
_SPEC = pytest.StashKey[TestSpec]()
_RECORD = pytest.StashKey[Record]()
_SCHEMA_CHECKED = pytest.StashKey[bool]()
_PAYLOAD = "dbguard_payload"  # a test's measurements, on its call report
_WORKER_OUTPUT = "dbguard"  # a pytest-xdist worker's view of the collection


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
    record = Record(item.nodeid, settings.max_recorded, capture.finder)
    record.explain_seqscan = settings.seqscan != "off" or settings.lints != "off"
    record.explain_plans = _checks_plans(item)
    record.explain_analyze = settings.analyze
    item.stash[_RECORD] = record
    capture.finder.start_test()
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
    capture.verdicts.start_test()
    capture.active = record
    try:
        result = yield
    except Exception:
        # The test failed on its own: no verdicts, but an EXPLAIN that failed may say why
        # (a connection killed under the test is first seen by the plugin's EXPLAIN).
        for finding in explain_warnings(record):
            _warn(item, finding)
        raise
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
    if settings.lints != "off":
        findings += lint_findings(record, settings.lint_names, spec.allow_lints, settings.lints)
    if record.explain_plans:  # the test checks its plans
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
    attach_plans(record, findings)
    record.findings += findings
    if settings.schema != "off" and not item.config.stash.get(_SCHEMA_CHECKED, False):
        record.schema_findings = _session_schema_check(item.config, record)
    for finding in findings:
        if finding.verdict == "warn":
            _warn(item, finding)
    failures = [finding.message for finding in findings if finding.verdict == "fail"]
    if failures:
        raise DBGuardFailure("\n\n".join(failures))


def _session_schema_check(config: pytest.Config, record: Record) -> list[SchemaFinding]:
    """Once per session (per pytest-xdist worker; the controller merges), on the first
    synchronous PostgreSQL engine a test used."""
    for statement in record.shapes():
        connection = statement.connection
        if statement.dialect != "postgresql" or connection is None:
            continue
        if connection.engine.dialect.is_async:
            continue
        config.stash[_SCHEMA_CHECKED] = True
        try:
            return check_engine(connection.engine)
        except Exception as error:
            warnings.warn(DBGuardWarning(f"schema checks failed: {error}"), stacklevel=1)
            return []
    return []


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
        setattr(report, _PAYLOAD, _payload(item, record))
    elif record is not None and call.when == "teardown":
        del item.stash[_RECORD]  # a session of many tests keeps no records
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    config: pytest.Config, report: pytest.TestReport
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    """pytest-xdist sends reports from workers to the controller: the payload goes with them
    (as an attribute of its own, not a user property: JUnit XML would print those)."""
    data = yield
    payload = getattr(report, _PAYLOAD, None)
    if data is not None and payload is not None:
        data[_PAYLOAD] = payload
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(
    config: pytest.Config, data: dict[str, Any]
) -> Generator[None, pytest.TestReport | None, pytest.TestReport | None]:
    report = yield
    if report is not None and _PAYLOAD in data:
        setattr(report, _PAYLOAD, data[_PAYLOAD])
    return report


def _payload(item: pytest.Item, record: Record) -> dict[str, Any]:
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
        "schema": [finding.as_dict() for finding in record.schema_findings],
    }


class _Reporting:
    """Session-wide work, wherever the tests ran: collects each test's payload from its report,
    writes snapshots at the end (never in a pytest-xdist worker) and the terminal summary."""

    def __init__(self, config: pytest.Config, summary: Summary) -> None:
        self.config = config
        self.summary = summary
        self.store = SnapshotStore(config.rootpath)
        self.result: StoreResult | None = None
        self.schema: dict[str, dict[str, object]] = {}
        self.written: list[str] = []
        self.store.mark_incomplete(_node_id_arguments(config))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.store.add_collected((item.nodeid, _checks_plans(item)) for item in session.items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.store.mark_incomplete(item.nodeid for item in items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        payload = getattr(report, _PAYLOAD, None)
        if payload is None or hasattr(self.config, "workerinput"):
            return  # a pytest-xdist worker: its controller collects
        delattr(report, _PAYLOAD)  # pytest keeps every report until the end: keep it small
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        self.summary.add(report.nodeid, payload, outcome)
        if payload["snapshot"]:
            self.store.writes[payload["snapshot"]["path"]] = payload["snapshot"]["text"]
        for item in payload["schema"]:
            self.schema[f"{item['check']}:{item['table']}:{item['columns']}"] = item

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist's controller: a worker's view of the collection, for orphans."""
        self.store.merge(getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, {}))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: the controller writes
            workeroutput[_WORKER_OUTPUT] = self.store.export()
            return
        settings = self.config.stash[_SETTINGS]
        self.result = self.store.finish(
            update=settings.update, orphans=settings.update or settings.plans
        )
        self._write_reports(settings)
        failing_schema = settings.schema == "fail" and self.schema
        if (self.result.errors or failing_schema) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_reports(self, settings: Settings) -> None:
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if not (settings.report or settings.json or step_summary):
            return
        data = build_json(self.summary.tests, [self.schema[key] for key in sorted(self.schema)])
        markdown = render_markdown(data)
        base = self.config.invocation_params.dir
        outputs = [
            (settings.report, markdown),
            (settings.json, json.dumps(data, indent=2, sort_keys=True) + "\n"),
        ]
        for path, text in outputs:
            if path:
                try:
                    write_atomically(base / path, text)
                    self.written.append(path)
                except OSError as error:
                    assert self.result is not None
                    self.result.errors.append(f"{path}: cannot write the report: {error}")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(github_summary(markdown))

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        lines = self.summary.lines(verbose=config.get_verbosity() > 0)
        if self.schema:
            verdict = self.config.stash[_SETTINGS].schema.upper()
            lines.append(f"Schema checks: {len(self.schema)} finding(s)")
            for item in (self.schema[key] for key in sorted(self.schema)):
                lines += [f"  {verdict} {item['summary']}", f"    {item['fix']}"]
        if self.result is not None:
            lines += self.store.lines(self.result)
        lines += [f"dbguard: report written to {path}" for path in self.written]
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
