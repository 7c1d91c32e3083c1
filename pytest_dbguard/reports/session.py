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
from ..outcome.payload import take_payload
from ..snapshots.format import write_atomically
from ..snapshots.store import SnapshotStore, StoreResult
from .data import build_json
from .markdown import github_summary, render_markdown
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
        self.summary.add(report.nodeid, data, outcome)
        if data["snapshot"]:
            self.store.writes[data["snapshot"]["path"]] = data["snapshot"]["text"]
        for item in data["schema"]:
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
        settings = self.settings
        self.result = self.store.finish(
            update=settings.update, orphans=settings.update or settings.plans
        )
        self._write_reports()
        failing_schema = settings.schema == "fail" and self.schema
        if (self.result.errors or failing_schema) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_reports(self) -> None:
        settings = self.settings
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY") if settings.step_summary else None
        if not (settings.report or settings.json or step_summary):
            return
        data = build_json(self.summary.tests, [self.schema[key] for key in sorted(self.schema)])
        data["migrations"] = migration_findings_as_data(self.config)
        markdown = render_markdown(data)
        if data["migrations"]:
            markdown += "\n" + markdown_section(data["migrations"])
        base = self.config.invocation_params.dir
        outputs = [
            (settings.report, markdown),
            (settings.json, json.dumps(data, indent=2, sort_keys=True) + "\n"),
        ]
        assert self.result is not None
        for path, text in outputs:
            if path:
                try:
                    write_atomically(base / path, text)
                    self.written.append(path)
                except OSError as error:
                    self.result.errors.append(f"{path}: cannot write the report: {error.strerror}")
        if step_summary:
            try:
                with open(step_summary, "a", encoding="utf-8") as handle:
                    handle.write(github_summary(markdown))
            except OSError as error:
                self.result.errors.append(
                    f"GITHUB_STEP_SUMMARY ({step_summary}): cannot append the report: "
                    f"{error.strerror}"
                )

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        lines = self.summary.lines(verbose=config.get_verbosity() > 0)
        if self.schema:
            verdict = str(self.settings.schema).upper()
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


def node_id_modules(config: pytest.Config) -> list[str]:
    """Modules named with ``::`` on the command line run in part: no orphans there."""
    modules = []
    for argument in config.args:
        if "::" in argument:
            path = Path(config.invocation_params.dir, argument.split("::", 1)[0]).resolve()
            with contextlib.suppress(ValueError):
                modules.append(path.relative_to(config.rootpath).as_posix())
    return modules
