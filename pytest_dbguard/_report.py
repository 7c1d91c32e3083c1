"""Reports: every finding of the session, once, in Markdown for reviewers and JSON for machines.

Built from the tests' payloads (what pytest-xdist workers send the controller), so the report of
a parallel run is the report of a serial one. Findings repeated across tests appear once, with
the tests listed. Nothing in a report holds a parameter value: statements are fingerprints and
plans are normalized before they get here.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._lints import LINTS

FORMAT_VERSION = 1
_GITHUB_LIMIT = 900_000  # GitHub accepts 1 MiB of step summary per step


@dataclass
class ReportFinding:
    kind: str
    verdict: str
    summary: str
    message: str
    details: dict[str, Any]
    tests: list[str] = field(default_factory=list)


def _key(finding: dict[str, Any]) -> str:
    details = finding.get("details", {})
    return json.dumps(
        [
            finding["kind"],
            details.get("statement"),
            details.get("table"),
            details.get("condition") or details.get("relationship") or details.get("detail"),
            details.get("source") if finding["kind"] == "query_budget" else None,
            None if details.get("statement") else finding["summary"],
        ]
    )


def collect(tests: dict[str, dict[str, Any]]) -> list[ReportFinding]:
    merged: dict[str, ReportFinding] = {}
    for nodeid, test in sorted(tests.items()):
        for finding in test["findings"]:
            key = _key(finding)
            if key not in merged:
                merged[key] = ReportFinding(
                    finding["kind"],
                    finding["verdict"],
                    finding["summary"],
                    finding["message"],
                    finding.get("details", {}),
                )
            merged[key].tests.append(nodeid)
    return sorted(merged.values(), key=lambda f: (f.verdict != "fail", f.kind, f.summary))


def build_json(tests: dict[str, dict[str, Any]], schema: list[dict[str, Any]]) -> dict[str, Any]:
    findings = collect(tests)
    return {
        "format": FORMAT_VERSION,
        "summary": _summary(tests, findings, schema),
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
                "details": f.details,
            }
            for f in findings
        ],
        "schema": schema,
    }


def _summary(
    tests: dict[str, dict[str, Any]], findings: list[ReportFinding], schema: list[dict[str, Any]]
) -> dict[str, Any]:
    kinds = Counter(f.kind for f in findings)
    kinds.update(f"schema:{item['check']}" for item in schema)
    return {
        "tests": len(tests),
        "statements": sum(test["total"] for test in tests.values()),
        "counted": sum(test["counted"] for test in tests.values()),
        "failures": sum(1 for f in findings if f.verdict == "fail"),
        "warnings": sum(1 for f in findings if f.verdict == "warn"),
        "findings_by_kind": dict(sorted(kinds.items())),
    }


def render_markdown(data: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = [
        "# pytest-dbguard report",
        "",
        "| tests | statements | counted | failing findings | warnings |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary['tests']:,} | {summary['statements']:,} | {summary['counted']:,} "
        f"| {summary['failures']} | {summary['warnings']} |",
        "",
    ]
    if summary["findings_by_kind"]:
        lines += ["| finding | count |", "|---|---:|"]
        lines += [f"| {kind} | {count} |" for kind, count in summary["findings_by_kind"].items()]
        lines.append("")
    else:
        lines += ["No findings.", ""]
    for finding in data["findings"]:
        lines += _section(finding)
    for item in data["schema"]:
        lines += _schema_section(item)
    return "\n".join(lines).rstrip() + "\n"


def _code(language: str, text: str | list[str]) -> list[str]:
    body = text if isinstance(text, list) else text.splitlines()
    return [f"```{language}", *body, "```", ""]


def _percent(before: float, after: float) -> str:
    return f"{(after - before) / before:+.0%}" if before else "n/a"


def _section(finding: dict[str, Any]) -> list[str]:
    details = finding["details"]
    verdict = "fails the tests" if finding["verdict"] == "fail" else "a warning"
    tests = ", ".join(f"`{test}`" for test in finding["tests"][:20])
    more = len(finding["tests"]) - 20
    lines = [
        f"# Database Optimization: {finding['summary']}",
        "",
        f"**Verdict:** {verdict}. **Tests:** {tests}" + (f" and {more} more" if more > 0 else ""),
        "",
    ]
    if details.get("statement"):
        lines += ["**Statement:**", "", *_code("sql", details["statement"])]
    if details.get("call_site"):
        lines += [f"**Called from:** `{details['call_site']}`", ""]
    lines += ["## Current Performance", ""]
    lines += _current(finding["kind"], details)
    if details.get("plan_before"):
        lines += ["## EXPLAIN (Before)", "", *_code("text", details["plan_before"])]
    lines += ["## Recommended Changes", "", *_recommendation(finding), ""]
    suggestion = details.get("suggestion") or {}
    if suggestion.get("verified") and suggestion.get("plan_after"):
        lines += ["## EXPLAIN (After)", "", *_code("text", suggestion["plan_after"])]
        lines += [
            "Verified on the test database: the index was created inside a savepoint, the "
            "statement explained again, and the savepoint rolled back.",
            "",
        ]
    elif details.get("plan_after"):
        lines += ["## EXPLAIN (After)", "", *_code("text", details["plan_after"])]
    lines += ["## Migration Script", "", *_migration(finding["kind"], details)]
    lines += ["## Impact", "", *_impact(finding["kind"], details), ""]
    return lines


def _current(kind: str, details: dict[str, Any]) -> list[str]:
    lines = []
    if details.get("cost_before") is not None:
        note = " (planned with enable_seqscan = off)" if kind == "seqscan" else ""
        lines.append(f"- Estimated total cost: {details['cost_before']:.2f}{note}")
    if kind == "seqscan":
        lines.append(
            f"- {details['scan']} reads all {details.get('table_rows', 0):,.0f} rows of "
            f"`{details['table']}` for {details['condition_kind']}: `{details['condition']}`"
        )
        indexes = details.get("existing_indexes") or []
        lines.append(f"- Indexes on `{details['table']}`:" + ("" if indexes else " none"))
        lines += [f"  - `{index}`" for index in indexes]
    if kind == "nplusone":
        lines.append(
            f"- {details.get('queries', '?')} queries, one per parent row"
            + (f", lazy-loading `{details['relationship']}`" if details.get("relationship") else "")
        )
    if kind == "duplicate_queries":
        lines.append(f"- The same statement and parameters, {details.get('queries')} times")
    if kind in ("plan_change", "cost_regression"):
        lines.append(
            f"- The plans of this run differ from the golden snapshot `{details.get('snapshot')}`"
            " (EXPLAIN (Before) is the snapshot, EXPLAIN (After) this run)"
        )
    if kind == "query_budget":
        expected = "exactly" if details.get("exact") else "at most"
        lines.append(
            f"- {details['count']} statements where {expected} {details['limit']} are "
            f"allowed ({details['source']})"
        )
    if details.get("rows") and kind in LINTS:
        lines.append(f"- About {details['rows']:,} rows drive it")
    analyze = details.get("analyze")
    if analyze:
        lines.append(
            f"- Measured (EXPLAIN ANALYZE on the test data): {analyze['actual_total_time_ms']:.3f} "
            f"ms, {analyze['actual_rows']:,} rows (estimated {analyze['plan_rows']:,})"
        )
    return [*lines, ""] if lines else ["- See the message below.", ""]


def _recommendation(finding: dict[str, Any]) -> list[str]:
    details = finding["details"]
    kind = finding["kind"]
    suggestion = details.get("suggestion")
    if kind == "seqscan" and suggestion:
        state = "verified" if suggestion["verified"] else "not used by PostgreSQL: not recommended"
        return [
            f"Create an index on `{suggestion['table']}` "
            f"({', '.join(suggestion['columns'])}) ({state}).",
        ]
    if kind == "nplusone" and details.get("fix"):
        return [
            "Load the relationship with the parent query:",
            "",
            *_code("python", details["fix"]),
        ]
    if details.get("recommendation"):
        return [details["recommendation"]]
    if kind in ("plan_change", "cost_regression"):
        return [
            "Review the change in the pull request. If it is intended, accept it with "
            "`pytest --dbguard-plans --dbguard-update` and commit the snapshot; if not, find "
            "what changed the plan (a lost index, a rewritten query, different data).",
        ]
    return [
        "Diagnosis, evidence and fix, as the test reported them:",
        "",
        *_code("text", finding["message"]),
    ]


def _migration(kind: str, details: dict[str, Any]) -> list[str]:
    suggestion = details.get("suggestion") or {}
    create_sql = suggestion.get("create_sql") if suggestion.get("verified") else None
    create_sql = create_sql or details.get("create_sql")
    alembic = suggestion.get("alembic") or details.get("alembic")
    if not create_sql:
        return ["No schema change: the fix is in the application's code.", ""]
    lines = _code("sql", create_sql)
    if alembic:
        lines += ["Alembic:", "", *_code("python", alembic)]
    return lines


def _impact(kind: str, details: dict[str, Any]) -> list[str]:
    suggestion = details.get("suggestion") or {}
    if kind == "seqscan" and suggestion.get("verified"):
        before, after = details["cost_before"], suggestion["cost_after"]
        rows_before, rows_after = details.get("table_rows", 0), suggestion.get("rows_after") or 0
        lines = [
            f"- Estimated cost: {before:.2f} → {after:.2f} ({_percent(before, after)})",
            f"- Rows read per run: {rows_before:,.0f} → {rows_after:,.0f} "
            f"({_percent(rows_before, rows_after)})",
        ]
        if after > before:
            lines.append(
                "- On the test data a full read is still cheaper; its cost grows with the "
                "table, the index scan's with the rows it returns."
            )
        return lines
    if kind == "nplusone":
        queries = details.get("queries", 0)
        if "joinedload" in str(details.get("fix")):
            return [f"- Queries: {queries} → 0: the related rows come with the parent query"]
        return [f"- Queries: {queries} → 1 for all the parents' rows"]
    if kind in ("plan_change", "cost_regression") and details.get("cost_before"):
        before, after = details["cost_before"], details["cost_after"]
        return [
            f"- Estimated total cost of the test's statements: {before:.2f} → {after:.2f} "
            f"({_percent(before, after)})"
        ]
    if kind == "duplicate_queries":
        return [f"- Queries: {details.get('queries')} → 1"]
    if kind == "query_budget":
        return [f"- Statements: {details['count']} → at most {details['limit']}"]
    return ["- Not estimated: see the recommended change."]


def _schema_section(item: dict[str, Any]) -> list[str]:
    return [
        f"# Database Optimization: {item['check'].replace('_', ' ')} on {item['table']}",
        "",
        "## Current Performance",
        "",
        f"- {item['summary']}",
        "",
        "## Recommended Changes",
        "",
        f"{item['check'].replace('_', ' ').capitalize()}: see the migration script.",
        "",
        "## Migration Script",
        "",
        *_code("sql", item["fix"]),
        "## Impact",
        "",
        "- Schema-wide: every statement on the table.",
        "",
    ]


def github_summary(markdown: str) -> str:
    if len(markdown) <= _GITHUB_LIMIT:
        return markdown
    return markdown[:_GITHUB_LIMIT] + "\n\n*(cut: the full report is in the job's artifacts)*\n"
