"""Session-wide work, wherever the tests ran: each test's payload collected from its report,
snapshots written at the end (never in a pytest-xdist worker), the reports and the terminal
summary."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ..migrations import migration_findings_as_data
from ..migrations.report import markdown_section
from ..options import Settings
from ..outcome.baseline import ACCEPTED
from ..outcome.payload import take_payload
from ..snapshots.format import write_atomically
from ..snapshots.location import file_name, module_of
from ..snapshots.store import SnapshotStore, StoreResult
from . import baseline as baseline_file
from .data import build_json
from .markdown import github_summary, render_markdown
from .pr_summary import render_pr_summary
from .sarif import render_sarif
from .summary import Summary

_WORKER_OUTPUT = "dbguard"  # a pytest-xdist worker's view of the collection


class SessionReports:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.summary = Summary()
        self.store = SnapshotStore(config.rootpath)
        self.store.mark_incomplete(node_id_modules(config))
        self.result: StoreResult | None = None
        self.schema: dict[str, dict[str, Any]] = {}
        self.written: list[str] = []
        self.locations: dict[str, tuple[str, int]] = {}  # each test's file and def line
        self.baseline = baseline_file.open_baseline(config, settings)
        # Built once at the session's end, for every file that needs them (see _data)
        self._split: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None = None
        self._report_data: dict[str, Any] | None = None

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Every test as pytest collects it, before any plugin or conftest drops items: the
        tests that exist, whose golden files are never orphans."""
        self.store.add_collected([item.nodeid])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or hasattr(self.config, "workerinput"):
            return  # a pytest-xdist worker: its controller collects
        data = take_payload(report)
        if data is None:
            return
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        for finding in data["findings"]:
            if finding.get("details", {}).get("baseline") == ACCEPTED:
                finding["verdict"] = ACCEPTED  # neither failed nor warned: its verdict was off
        if self.baseline is not None:
            self.baseline.add_test(report.nodeid, data["findings"], report.outcome)
        path, line, _ = report.location
        self.locations[report.nodeid] = (path.replace(os.sep, "/"), (line or 0) + 1)
        self.summary.add(report.nodeid, data, outcome)
        if data["snapshot"]:
            self.store.writes[data["snapshot"]["path"]] = data["snapshot"]["text"]
        for item in data["schema"]:
            self.schema[f"{item['check']}:{item['table']}:{item['columns']}"] = item

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        """pytest-xdist's controller: a worker's view of the collection, for orphans."""
        self.store.merge(getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, {}))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: the controller writes
            workeroutput[_WORKER_OUTPUT] = self.store.export()
            return
        settings = self.settings
        self.result = self.store.finish(
            update=settings.update, orphans=settings.update or settings.plans
        )
        self._write_reports()
        failing_schema = settings.schema == "fail" and self.schema
        if (self.result.errors or failing_schema) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_reports(self) -> None:
        """Each file the options ask for; a file that cannot be written is an error of the
        session (``dbguard: ERROR ...``), never a traceback."""
        writers = [
            ("the baseline", self._write_baseline),
            ("the reports", self._write_markdown_and_json),
            ("the SARIF file", self._write_sarif),
            ("the pull-request summary", self._write_pr_summary),
        ]
        assert self.result is not None
        for what, writer in writers:
            try:
                writer()
            except Exception as error:  # noqa: BLE001 (a bug: the session's other files still get written)
                self.result.errors.append(
                    f"cannot write {what}: {type(error).__name__}: {error} (a bug in "
                    "pytest-dbguard: please report it)"
                )

    def _split_accepted(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The tests with their findings to report, and with those the baseline accepted
        (computed once: every test has been reported when the files are written)."""
        if self._split is not None:
            return self._split
        if self.baseline is None:
            self._split = self.summary.tests, {}
            return self._split
        reported, accepted = {}, {}
        for nodeid, test in self.summary.tests.items():
            findings = test["findings"]
            reported[nodeid] = {
                **test,
                "findings": [f for f in findings if f["verdict"] != ACCEPTED],
            }
            accepted[nodeid] = {
                **test,
                "findings": [f for f in findings if f["verdict"] == ACCEPTED],
            }
        self._split = reported, accepted
        return self._split

    def _data(self) -> dict[str, Any]:
        """The reports' data: the findings not accepted in the baseline (built once, for the
        report, the JSON and the pull-request summary)."""
        if self._report_data is None:
            reported, _ = self._split_accepted()
            data = build_json(reported, [self.schema[key] for key in sorted(self.schema)])
            data["migrations"] = migration_findings_as_data(self.config)
            self._report_data = data
        return self._report_data

    def _write(self, path: str, text: str, what: str) -> None:
        assert self.result is not None
        try:
            write_atomically(self.config.invocation_params.dir / path, text)
            self.written.append(path)
        except OSError as error:
            self.result.errors.append(f"{path}: cannot write {what}: {error.strerror}")

    def _write_markdown_and_json(self) -> None:
        settings = self.settings
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY") if settings.step_summary else None
        if not (settings.report or settings.json or step_summary):
            return
        data = self._data()
        markdown = render_markdown(data)
        if data["migrations"]:
            markdown += "\n" + markdown_section(data["migrations"])
        if self.baseline is not None:
            _, accepted = self._split_accepted()
            section = baseline_file.markdown_section(accepted, self.baseline.display)
            markdown += "\n" + section if section else ""
        if settings.report:
            self._write(settings.report, markdown, "the report")
        if settings.json:
            self._write(
                settings.json, json.dumps(data, indent=2, sort_keys=True) + "\n", "the report"
            )
        if step_summary:
            try:
                with open(step_summary, "a", encoding="utf-8") as handle:
                    handle.write(github_summary(markdown))
            except OSError as error:
                assert self.result is not None
                self.result.errors.append(
                    f"GITHUB_STEP_SUMMARY ({step_summary}): cannot append the report: "
                    f"{error.strerror}"
                )

    def _write_sarif(self) -> None:
        if self.settings.sarif:
            display = self.baseline.display if self.baseline is not None else None
            text = render_sarif(self.summary.tests, self.locations, display)
            self._write(self.settings.sarif, text, "the SARIF file")

    def _write_pr_summary(self) -> None:
        if not self.settings.pr_summary:
            return
        baseline = self.baseline
        text = render_pr_summary(
            self._data(),
            accepted=baseline.accepted if baseline is not None else 0,
            baseline=baseline.display if baseline is not None else None,
            stale=len(baseline.stale(self._test_exists)) if baseline and not baseline.update else 0,
            report=self.settings.report or None,
        )
        self._write(self.settings.pr_summary, text, "the pull-request summary")

    def _write_baseline(self) -> None:
        baseline = self.baseline
        if baseline is None or not baseline.update:
            return
        try:
            baseline.write(self._test_exists)
        except OSError as error:
            assert self.result is not None
            self.result.errors.append(
                f"{baseline.display}: cannot write the baseline: {error.strerror}"
            )

    def _test_exists(self, nodeid: str) -> bool:
        """Whether a test may still exist: it was collected, or its module was not collected
        in full (or at all) in this session."""
        module = module_of(nodeid)
        names = self.store.collected.get(module)
        if not names or module in self.store.incomplete:
            return True
        return file_name(nodeid) in names

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        lines = self.summary.lines(verbose=config.get_verbosity() > 0)
        if self.schema:
            verdict = str(self.settings.schema).upper()
            lines.append(f"Schema checks: {len(self.schema)} finding(s)")
            for item in (self.schema[key] for key in sorted(self.schema)):
                lines += [f"  {verdict} {item['summary']}", f"    {item['fix']}"]
        if self.baseline is not None and self.result is not None:
            lines += self.baseline.lines(self._test_exists)
        if self.result is not None:
            lines += self.store.lines(self.result)
        lines += [f"dbguard: report written to {path}" for path in self.written]
        if lines:
            terminalreporter.write_sep("=", "dbguard")
            for line in lines:
                terminalreporter.write_line(line)


def node_id_modules(config: pytest.Config) -> list[str]:
    """Modules named with ``::`` on the command line run in part: no orphans there."""
    modules = []
    for argument in config.args:
        if "::" in argument:
            path = Path(config.invocation_params.dir, argument.split("::", 1)[0]).resolve()
            with contextlib.suppress(ValueError):
                modules.append(path.relative_to(config.rootpath).as_posix())
    return modules
