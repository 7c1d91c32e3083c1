"""The baseline file at the end of the session: what it accepted, which of its findings are gone,
and with ``--dbguard-baseline-update`` the file itself, rewritten (by the controller under
pytest-xdist). Which findings a test accepts is decided as the test runs
(``outcome/baseline.py``); this module only sees the tests' payloads.

The file is JSON that reads well in a diff: sorted findings, sorted keys, one finding per block,
no line numbers, counts or dates. An update keeps what it cannot check: the findings of tests
that did not run (deselected, skipped, failed before their end), unless the test no longer
exists in a module collected in full.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..options import Settings
from ..outcome.baseline import (
    ACCEPTED,
    BASELINE,
    FORMAT_VERSION,
    Baseline,
    BaselineError,
    Key,
    entry_key,
    finding_key,
    is_block_budget,
    name_in_module,
    read_baseline,
)
from ..snapshots.format import write_atomically
from .data import collect

ABOUT = (
    "pytest-dbguard baseline: findings accepted for now. Their tests pass; any other finding "
    "fails as usual. Fix one, then run pytest --dbguard-baseline-update to prune it."
)
_MAX_LISTED = 10

TestExists = Callable[[str], bool]  # whether a test (by node id) may still exist


def open_baseline(config: pytest.Config, settings: Settings) -> BaselineSession | None:
    """Read the baseline the options name (raising a usage error that says what is wrong), and
    put it where each test's judgement finds it."""
    if not settings.baseline:
        if settings.baseline_update:
            raise pytest.UsageError(
                "--dbguard-baseline-update: name the baseline file with "
                "--dbguard-baseline=PATH (or ini dbguard_baseline)"
            )
        return None
    path = baseline_path(config, settings.baseline)
    try:
        baseline = read_baseline(path)
    except BaselineError as error:
        raise pytest.UsageError(
            f"--dbguard-baseline / ini dbguard_baseline: {settings.baseline}: {error} (to start "
            "again, delete it and run with --dbguard-baseline-update)"
        ) from None
    baseline.accept_all = settings.baseline_update
    config.stash[BASELINE] = baseline
    return BaselineSession(path, settings.baseline, baseline, settings.baseline_update)


def baseline_path(config: pytest.Config, value: str) -> Path:
    """A path on the command line is relative to the directory pytest was started in; one in
    the ini file to the ini file's directory (so it is found from any directory)."""
    if config.getoption("dbguard_baseline", default=None) is not None:
        return config.invocation_params.dir / value
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / value


def was_judged(outcome: str, findings: list[dict[str, Any]]) -> bool:
    """Whether the test ran to its end and was judged: it passed, or it has a finding that only
    the judgement makes (a test whose own assertion failed has at most a block's budget)."""
    return outcome == "passed" or any(
        not is_block_budget(finding["kind"], finding.get("details", {})) for finding in findings
    )


@dataclass
class _Found:
    """One accepted finding of this run, with the tests of its module that had it."""

    entry: dict[str, Any]
    tests: set[str] = field(default_factory=set)


@dataclass
class BaselineSession:
    path: Path
    display: str  # as the user named it
    baseline: Baseline
    update: bool
    found: dict[Key, _Found] = field(default_factory=dict)  # accepted
    seen: set[Key] = field(default_factory=set)  # accepted or not
    judged: set[str] = field(default_factory=set)
    accepted_tests: set[str] = field(default_factory=set)
    accepted: int = 0  # findings accepted, counted per test
    written: bool = False
    result: list[dict[str, Any]] | None = None  # the entries after the update

    def add_test(self, nodeid: str, findings: list[dict[str, Any]], outcome: str) -> None:
        if was_judged(outcome, findings):
            self.judged.add(nodeid)
        for finding in findings:
            details = finding.get("details", {})
            key = finding_key(finding["kind"], details, nodeid)
            if key is None:
                continue
            self.seen.add(key)
            if details.get("baseline") != ACCEPTED:
                continue
            self.accepted += 1
            self.accepted_tests.add(nodeid)
            found = self.found.get(key)
            if found is None:
                found = self.found[key] = _Found(_entry(key, details))
            found.tests.add(name_in_module(nodeid))
            if "queries" in found.entry:
                found.entry["queries"] = max(found.entry["queries"], int(details["count"]))

    def _kept_tests(self, entry: dict[str, Any], exists: TestExists) -> set[str]:
        """An entry's tests whose findings this run could not check."""
        module = entry["module"]
        return {
            name
            for name in entry.get("tests", [])
            if f"{module}::{name}" not in self.judged and exists(f"{module}::{name}")
        }

    def stale(self, exists: TestExists) -> list[dict[str, Any]]:
        """Entries that no test had this run, though every test they name was judged or is
        gone: fixed findings, to prune."""
        return [
            entry
            for key, entry in sorted(self.baseline.entries.items())
            if key not in self.seen and not self._kept_tests(entry, exists)
        ]

    def updated(self, exists: TestExists) -> list[dict[str, Any]]:
        """The file's entries after this run: its findings, and the old entries' tests that
        did not run."""
        entries: dict[Key, dict[str, Any]] = {}
        for key, old in self.baseline.entries.items():
            kept = self._kept_tests(old, exists)
            if kept:
                entries[key] = {**old, "tests": kept}
        for key, found in self.found.items():
            entry = {**found.entry, "tests": set(found.tests)}
            previous = entries.get(key)
            if previous is not None:
                entry["tests"] |= previous["tests"]
                if "queries" in entry:
                    entry["queries"] = max(entry["queries"], int(previous.get("queries", 0)))
            entries[key] = entry
        return [
            {**entry, "tests": sorted(entry["tests"])}
            for _, entry in sorted(entries.items(), key=lambda item: _order(item[0]))
        ]

    def write(self, exists: TestExists) -> None:
        """--dbguard-baseline-update: rewrite the file (not when nothing changed). Raises
        OSError."""
        self.result = self.updated(exists)
        text = render_baseline(self.result)
        try:
            unchanged = self.path.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            unchanged = False
        if not unchanged:
            write_atomically(self.path, text)
            self.written = True

    def lines(self, exists: TestExists) -> list[str]:
        where = f"dbguard: baseline {self.display}"
        if self.update and self.result is not None:
            old = set(self.baseline.entries)
            new = {entry_key(entry) for entry in self.result}
            state = "written" if self.written else "up to date"
            return [
                f"{where} {state}: {_findings(len(new))} accepted "
                f"({len(new - old)} added, {len(old - new)} pruned)"
            ]
        lines = []
        if not self.baseline.exists:
            lines.append(
                f"{where} does not exist: no finding is accepted (--dbguard-baseline-update "
                "writes it)"
            )
        if self.accepted:
            lines.append(
                f"{where}: {_findings(self.accepted)} accepted in "
                f"{len(self.accepted_tests)} test(s) (they pass; fix them when you can)"
            )
        stale = self.stale(exists)
        if stale:
            lines.append(
                f"{where}: {_findings(len(stale))} no longer found (fixed?): "
                "--dbguard-baseline-update prunes them"
            )
            lines += [f"  {_describe(entry)}" for entry in stale[:_MAX_LISTED]]
            if len(stale) > _MAX_LISTED:
                lines.append(f"  ... and {len(stale) - _MAX_LISTED} more")
        return lines


def _findings(count: int) -> str:
    return f"{count} finding" + ("" if count == 1 else "s")


def _order(key: Key) -> tuple[str, str, str, str]:
    kind, module, statement, subject = key
    return (module, kind, subject, statement)


def _entry(key: Key, details: dict[str, Any]) -> dict[str, Any]:
    """A file entry: the key's parts, and the fix (for the reader; not part of the key)."""
    kind, module, statement, subject = key
    entry: dict[str, Any] = {"kind": kind, "module": module}
    if statement:
        entry["statement"] = statement
    if subject:
        entry["subject"] = subject
    fix = fix_text(details)
    if fix:
        entry["fix"] = fix
    if kind == "query_budget":
        entry["queries"] = int(details.get("count", 0))
    return entry


def fix_text(details: dict[str, Any]) -> str | None:
    """The fix of a finding, in one line, where it has one."""
    indexes = details.get("indexes") or []
    if indexes:
        return " ".join(index["create_sql"] for index in indexes)
    for name in ("fix", "create_sql", "recommendation"):
        if details.get(name):
            return str(details[name])
    return None


def _describe(entry: dict[str, Any]) -> str:
    what = entry.get("subject") or entry.get("statement") or ""
    if len(what) > 100:
        what = what[:97] + "..."
    return f"{entry['kind']} in {entry['module']}" + (f": {what}" if what else "")


def render_baseline(entries: Iterable[dict[str, Any]]) -> str:
    data = {"about": ABOUT, "format": FORMAT_VERSION, "findings": list(entries)}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def markdown_section(tests: dict[str, dict[str, Any]], display: str) -> str:
    """The accepted findings, for the end of the Markdown report: the debt, listed once."""
    accepted = collect(tests)
    if not accepted:
        return ""
    lines = [
        "# Accepted in the baseline",
        "",
        f"{_findings(len(accepted))} accepted in `{display}`: their tests pass. Fix them when "
        "you can, then prune them with `pytest --dbguard-baseline-update`.",
        "",
    ]
    for finding in accepted:
        fix = fix_text(finding.details)
        lines.append(
            f"- {finding.summary} ({len(finding.tests)} test(s))" + (f": `{fix}`" if fix else "")
        )
    return "\n".join(lines) + "\n"
