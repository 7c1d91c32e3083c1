"""The baseline: findings a team has accepted for now, in a file committed with the tests.

A finding the baseline lists is accepted: its test neither fails nor warns on it (its verdict
becomes ``off``, and ``details["baseline"]`` says ``"accepted"``), and the reports count it
apart. Every other finding fails or warns as usual. With ``--dbguard-baseline-update`` every
finding a baseline can hold is accepted, and the controller rewrites the file at the end
(``reports/baseline.py``).

A finding is known by what survives an edit of the code around it: its kind, the test's module,
the statement's fingerprint and the relationship or table it is about; never a line number, a
count or the test data. Plan snapshot findings are not held here: the golden files are their
baseline (``--dbguard-update``). A query budget of a ``dbguard`` block has failed its test when
the block ended, before any baseline could accept it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..findings import Finding, Kind, Mode
from ..snapshots.location import module_of

FORMAT_VERSION = 1
ACCEPTED = "accepted"  # details["baseline"] of an accepted finding

#: Kinds a baseline can accept (plan findings have their own baseline, the snapshots).
BASELINED_KINDS = frozenset(
    {
        Kind.QUERY_BUDGET,
        Kind.NPLUSONE,
        Kind.DUPLICATE_QUERIES,
        Kind.MISSING_INDEX,
        Kind.CORRELATED_SUBQUERY,
        Kind.CARTESIAN_JOIN,
        Kind.SORT_WITHOUT_INDEX,
    }
)

Key = tuple[str, str, str, str]  # kind, test module, statement fingerprint, subject


class BaselineError(Exception):
    """The baseline file cannot be read: the message says why."""


@dataclass
class Baseline:
    """The accepted findings of a baseline file, by key."""

    entries: dict[Key, dict[str, Any]] = field(default_factory=dict)
    accept_all: bool = False  # --dbguard-baseline-update: this run's findings become the file
    exists: bool = True

    def accepts(self, finding: Finding, nodeid: str) -> bool:
        key = finding_key(str(finding.kind), finding.details, nodeid)
        if key is None:
            return False
        if self.accept_all:
            return True
        entry = self.entries.get(key)
        if entry is None:
            return False
        if finding.kind == Kind.QUERY_BUDGET:  # accepted up to the count recorded, no more
            return int(finding.details.get("count", 0)) <= int(entry.get("queries", 0))
        return True


#: The session's baseline, when --dbguard-baseline names one (in every pytest-xdist worker).
BASELINE = pytest.StashKey[Baseline]()


def name_in_module(nodeid: str) -> str:
    """The test's id inside its module (``TestClass::test_name[param]``)."""
    return nodeid.split("::", 1)[1] if "::" in nodeid else nodeid


def is_block_budget(kind: str, details: dict[str, Any]) -> bool:
    """A ``with dbguard.max_queries(n):`` budget: it failed its test as the block ended."""
    return kind == Kind.QUERY_BUDGET and str(details.get("source", "")).startswith("dbguard.")


def finding_key(kind: str, details: dict[str, Any], nodeid: str) -> Key | None:
    """What identifies a finding across edits, or None for one a baseline cannot accept."""
    if kind not in BASELINED_KINDS or is_block_budget(kind, details):
        return None
    module = module_of(nodeid)
    if kind == Kind.QUERY_BUDGET:  # about one test and its budget, not a statement
        return (kind, module, "", f"{name_in_module(nodeid)}: {details.get('source', '')}")
    if kind == Kind.NPLUSONE:
        subject = details.get("relationship") or ""
    elif kind == Kind.MISSING_INDEX:
        subject = ""  # the statement says it; the tables a fix covers may shrink as it is fixed
    else:  # plan lints
        subject = details.get("table") or ""
    return (kind, module, details.get("statement") or "", subject)


def entry_key(entry: dict[str, Any]) -> Key:
    return (
        str(entry["kind"]),
        str(entry["module"]),
        str(entry.get("statement") or ""),
        str(entry.get("subject") or ""),
    )


def read_baseline(path: Path) -> Baseline:
    """The file's entries; a missing file is an empty baseline. Raises BaselineError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Baseline(exists=False)
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(
            f"cannot read it: {getattr(error, 'strerror', None) or error}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(f"not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise BaselineError(
            f"not a pytest-dbguard baseline of format {FORMAT_VERSION} (write it with "
            "--dbguard-baseline-update)"
        )
    entries = data.get("findings")
    if not isinstance(entries, list):
        raise BaselineError('"findings" is not a list')
    baseline = Baseline()
    for number, entry in enumerate(entries, start=1):
        problem = _entry_problem(entry)
        if problem:
            raise BaselineError(f"finding {number}: {problem}")
        baseline.entries[entry_key(entry)] = entry
    return baseline


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    if entry.get("kind") not in BASELINED_KINDS:
        return f"unknown kind {entry.get('kind')!r}"
    for name in ("module", "statement", "subject"):
        if not isinstance(entry.get(name, ""), str | None):
            return f"{name} is not a string"
    if not isinstance(entry.get("module"), str) or not entry["module"]:
        return "no module"
    tests = entry.get("tests", [])
    if not isinstance(tests, list) or not all(isinstance(test, str) for test in tests):
        return "tests is not a list of test names"
    if entry["kind"] == Kind.QUERY_BUDGET and not isinstance(entry.get("queries"), int):
        return "a query budget without the number of queries accepted"
    return None


def apply_baseline(config: pytest.Config, nodeid: str, findings: list[Finding]) -> None:
    """Accept the test's findings that the session's baseline lists (all of them it can hold,
    with --dbguard-baseline-update): they neither fail nor warn."""
    baseline = config.stash.get(BASELINE, None)
    if baseline is None:
        return
    for finding in findings:
        if finding.verdict is not Mode.OFF and baseline.accepts(finding, nodeid):
            finding.verdict = Mode.OFF
            finding.details["baseline"] = ACCEPTED
