"""The terminal summary, built from what each test's report carries (so it works the same
whether the tests ran here or in pytest-xdist workers)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..outcome.payload import Payload
from .data import test_entry

_TOP = 5
_MAX_NOTES = 10


class Summary:
    def __init__(self) -> None:
        self.tests: dict[str, dict[str, Any]] = {}

    def add(self, nodeid: str, payload: Payload, outcome: str) -> None:
        """Keep what the summary and the reports use, no more: a session may have 100,000."""
        self.tests[nodeid] = test_entry(payload, outcome)

    def lines(self, verbose: bool) -> list[str]:
        if not self.tests:
            return []
        total = sum(test["total"] for test in self.tests.values())
        counted = sum(test["counted"] for test in self.tests.values())
        lines = [
            f"{_plural(len(self.tests), 'test')} measured, {_plural(total, 'statement')} captured "
            f"({counted:,} counted against budgets)"
        ]
        examined = sum(test["examined"] for test in self.tests.values())
        reused = sum(test["reused"] for test in self.tests.values())
        if examined or reused:
            lines.append(
                f"Plans: {_plural(examined, 'statement')} examined on the database, "
                f"{reused:,} examination(s) reused by later tests"
            )
        busiest = sorted(self.tests.items(), key=lambda item: (-item[1]["counted"], item[0]))
        busiest = [item for item in busiest if item[1]["counted"]][:_TOP]
        if busiest:
            lines.append("Most queries:")
            lines += [f"  {test['counted']:>7,}  {nodeid}" for nodeid, test in busiest]
        kinds = Counter(
            (finding["kind"], finding["verdict"])
            for test in self.tests.values()
            for finding in test["findings"]
        )
        if kinds:
            parts = [
                f"{count} {kind} ({verdict})" for (kind, verdict), count in sorted(kinds.items())
            ]
            lines.append("Findings: " + ", ".join(parts))
        else:
            lines.append("Findings: none")
        notes = [(nodeid, note) for nodeid, test in self.tests.items() for note in test["notes"]]
        if notes:
            lines.append(f"Statements not examined (their plans are not checked): {len(notes)}")
            lines += [f"  {nodeid}: {note}" for nodeid, note in sorted(notes)[:_MAX_NOTES]]
            if len(notes) > _MAX_NOTES:
                lines.append(f"  ... and {len(notes) - _MAX_NOTES} more (in the JSON report)")
        skipped = Counter(
            test["plans_skipped_on"] for test in self.tests.values() if test.get("plans_skipped_on")
        )
        for major, count in sorted(skipped.items()):
            lines.append(
                f"Plans of {_plural(count, 'test')} not checked: the snapshots record another "
                f"PostgreSQL than {major} (dbguard_plans_postgresql)"
            )
        if verbose:
            for nodeid, test in sorted(self.tests.items()):
                expected = " (xfailed)" if test.get("outcome") == "xfailed" else ""
                for finding in test["findings"]:
                    lines.append(
                        f"  {finding['verdict'].upper()} {nodeid}{expected}: {finding['summary']}"
                    )
        return lines


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
