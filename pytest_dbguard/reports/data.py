"""The report's data: every finding of the session once, from the tests' payloads (what
pytest-xdist workers send the controller, so the report of a parallel run is the report of a
serial one). This is what ``--dbguard-json`` writes (schema: ``pytest_dbguard.REPORT_SCHEMA``)
and what the Markdown report and the SARIF file are rendered from.

Findings with one fix are one recommendation: the missing-index findings of every statement
and test that one set of indexes fixes are merged, listing each statement and call site. Other
findings repeated across tests appear once, with the tests listed. Nothing here holds a
parameter value: statements are fingerprints and plans are normalized before they get here.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..findings import Kind
from ..outcome.payload import Payload

FORMAT_VERSION = 2


@dataclass
class ReportFinding:
    kind: str
    verdict: str
    summary: str
    message: str
    details: dict[str, Any]
    tests: list[str] = field(default_factory=list)
    occurrences: list[dict[str, Any]] = field(default_factory=list)  # statement, call site


def _key(finding: dict[str, Any]) -> str:
    details = finding.get("details", {})
    if finding["kind"] == Kind.MISSING_INDEX:
        return json.dumps(["missing_index", sorted(i["create_sql"] for i in details["indexes"])])
    return json.dumps(
        [
            finding["kind"],
            details.get("statement"),
            details.get("table"),
            details.get("relationship") or details.get("detail"),
            details.get("source") if finding["kind"] == Kind.QUERY_BUDGET else None,
            None if details.get("statement") else finding["summary"],
        ]
    )


def collect(tests: dict[str, dict[str, Any]]) -> list[ReportFinding]:
    merged: dict[str, ReportFinding] = {}
    for nodeid, test in sorted(tests.items()):
        for finding in test["findings"]:
            key = _key(finding)
            entry = merged.get(key)
            if entry is None:
                entry = merged[key] = ReportFinding(
                    finding["kind"],
                    finding["verdict"],
                    finding["summary"],
                    finding["message"],
                    finding.get("details", {}),
                )
            if nodeid not in entry.tests:
                entry.tests.append(nodeid)
            details = finding.get("details", {})
            occurrence = {
                "statement": details.get("statement"),
                "call_site": details.get("call_site"),
            }
            if details.get("statement") and occurrence not in entry.occurrences:
                entry.occurrences.append(occurrence)
            if finding["verdict"] == "fail":
                entry.verdict = "fail"
    return sorted(merged.values(), key=lambda f: (f.verdict != "fail", f.kind, f.summary))


def build_json(tests: dict[str, dict[str, Any]], schema: list[dict[str, Any]]) -> dict[str, Any]:
    findings = collect(tests)
    kinds = Counter(f.kind for f in findings)
    kinds.update(f"schema:{item['check']}" for item in schema)
    notes = [
        {"test": nodeid, "note": note}
        for nodeid, test in sorted(tests.items())
        for note in test.get("notes", [])
    ]
    return {
        "format": FORMAT_VERSION,
        "summary": {
            "tests": len(tests),
            "statements": sum(test["total"] for test in tests.values()),
            "counted": sum(test["counted"] for test in tests.values()),
            "failures": sum(1 for f in findings if f.verdict == "fail"),
            "warnings": sum(1 for f in findings if f.verdict == "warn"),
            "not_examined": len(notes),
            "findings_by_kind": dict(sorted(kinds.items())),
        },
        "tests": [
            {
                "nodeid": nodeid,
                "outcome": test.get("outcome", "passed"),
                "statements": test["total"],
                "counted": test["counted"],
                "findings": len(test["findings"]),
            }
            for nodeid, test in sorted(tests.items())
        ],
        "findings": [
            {
                "kind": f.kind,
                "verdict": f.verdict,
                "summary": f.summary,
                "message": f.message,
                "tests": f.tests,
                "occurrences": f.occurrences,
                "details": f.details,
            }
            for f in findings
        ],
        "notes": notes,
        "schema": schema,
    }


def test_entry(payload: Payload, outcome: str) -> dict[str, Any]:
    """What the report keeps of one test (a session may have 100,000)."""
    return {
        "total": payload["total"],
        "counted": payload["counted"],
        "findings": payload["findings"],
        "notes": payload["notes"],
        "plans_skipped_on": payload["plans_skipped_on"],
        "examined": payload["examined"],
        "reused": payload["reused"],
        "outcome": outcome,
    }
