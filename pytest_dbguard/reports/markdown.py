"""The Markdown report: one section per recommendation, in the shape a database reviewer
expects (current performance, EXPLAIN before, recommended changes, EXPLAIN after, migration
script, impact), rendered from the report's data (``reports/data.py``)."""

from __future__ import annotations

from typing import Any

from ..findings import Kind
from ..rules.lints import LINTS

_GITHUB_LIMIT = 900_000  # GitHub accepts 1 MiB of step summary per step
_MAX_LISTED = 20


def render_markdown(data: dict[str, Any]) -> str:
    """The whole report."""
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
    if data["notes"]:
        lines += [
            "# Statements not examined",
            "",
            "Their plans are not checked (the reason is the database's or the driver's):",
            "",
            *(f"- `{note['test']}`: {note['note']}" for note in data["notes"][:100]),
            "",
        ]
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
    tests = ", ".join(f"`{test}`" for test in finding["tests"][:_MAX_LISTED])
    more = len(finding["tests"]) - _MAX_LISTED
    lines = [
        f"# Database Optimization: {finding['summary']}",
        "",
        f"**Verdict:** {verdict}. **Tests:** {tests}" + (f" and {more} more" if more > 0 else ""),
        "",
    ]
    occurrences = finding.get("occurrences") or []
    if len(occurrences) > 1:
        lines += [f"**Statements ({len(occurrences)}):**", ""]
        for occurrence in occurrences[:_MAX_LISTED]:
            site = f" — `{occurrence['call_site']}`" if occurrence.get("call_site") else ""
            lines.append(f"- `{occurrence['statement']}`{site}")
        lines.append("")
    else:
        if details.get("statement"):
            lines += ["**Statement:**", "", *_code("sql", details["statement"])]
        if details.get("call_site"):
            lines += [f"**Called from:** `{details['call_site']}`", ""]
    lines += ["## Current Performance", "", *_current(finding["kind"], details)]
    if details.get("plan_before"):
        lines += ["## EXPLAIN (Before)", "", *_code("text", details["plan_before"])]
    if details.get("changes"):
        lines += ["## What changed", "", *(f"- {line}" for line in details["changes"]), ""]
    lines += ["## Recommended Changes", "", *_recommendation(finding), ""]
    if details.get("plan_after"):
        lines += ["## EXPLAIN (After)", "", *_code("text", details["plan_after"])]
        if finding["kind"] == Kind.MISSING_INDEX:
            lines += [
                "Verified on the test database: the index was created inside a savepoint, the "
                "statement explained again, and the savepoint rolled back.",
                "",
            ]
    lines += ["## Migration Script", "", *_migration(details)]
    lines += ["## Impact", "", *_impact(finding["kind"], details), ""]
    return lines


def _current(kind: str, details: dict[str, Any]) -> list[str]:
    lines = []
    if kind == Kind.MISSING_INDEX:
        for read in details["reads"]:
            condition = f", keeping rows with `{read['filter']}`" if read.get("filter") else ""
            lines.append(
                f"- PostgreSQL reads every row of `{read['table']}`: {read['why']}{condition}"
            )
        indexes = details.get("existing_indexes") or []
        lines.append("- Indexes of the tables it reads:" + ("" if indexes else " none"))
        lines += [f"  - `{index}`" for index in indexes]
    if details.get("cost_before") is not None and kind != Kind.PLAN_CHANGE:
        lines.append(
            f"- Estimated total cost on the test data: {details['cost_before']:.2f} "
            "(indexed plan: sequential scans priced out)"
        )
    if kind == Kind.NPLUSONE:
        lines.append(
            f"- {details.get('queries', '?')} queries, one per parent row"
            + (f", lazy-loading `{details['relationship']}`" if details.get("relationship") else "")
        )
    if kind == Kind.DUPLICATE_QUERIES:
        lines.append(f"- The same statement and parameters, {details.get('queries')} times")
    if kind in (Kind.PLAN_CHANGE, Kind.COST_REGRESSION):
        lines.append(
            f"- The plans of this run differ from the golden snapshot `{details.get('snapshot')}`"
            " (EXPLAIN (Before) is the snapshot, EXPLAIN (After) this run)"
        )
    if kind == Kind.QUERY_BUDGET:
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
    if kind == Kind.MISSING_INDEX:
        state = (
            "verified: with it the plan reads the table through the index"
            if details["verified"]
            else f"not verified: it could not be tried here ({details['trial_error']})"
        )
        return [
            f"Create {_plural(len(details['indexes']), 'index', 'indexes')} ({state}):",
            "",
            *(
                f"- `{index['table']}` ({', '.join(index['columns'])})"
                for index in details["indexes"]
            ),
        ]
    if kind == Kind.NPLUSONE and details.get("fix"):
        return [
            "Load the relationship with the parent query:",
            "",
            *_code("python", details["fix"]),
        ]
    if details.get("recommendation"):
        return [details["recommendation"]]
    if kind in (Kind.PLAN_CHANGE, Kind.COST_REGRESSION):
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


def _plural(count: int, one: str, many: str) -> str:
    return f"this {one}" if count == 1 else f"these {many}"


def _migration(details: dict[str, Any]) -> list[str]:
    indexes = details.get("indexes") or []
    if indexes:
        lines = _code("sql", [index["create_sql"] for index in indexes])
        lines += ["Alembic:", ""]
        for index in indexes:
            lines += _code("python", index["alembic"])
        return lines
    if details.get("create_sql"):
        lines = _code("sql", details["create_sql"])
        if details.get("alembic"):
            lines += ["Alembic:", "", *_code("python", details["alembic"])]
        return lines
    return ["No schema change: the fix is in the application's code.", ""]


def _impact(kind: str, details: dict[str, Any]) -> list[str]:
    if kind == Kind.MISSING_INDEX and details.get("verified"):
        before, after = details["cost_before"], details["cost_after"]
        tables = ", ".join(f"`{read['table']}`" for read in details["reads"])
        return [
            f"- Whole-table reads removed: {tables}: the rows read grow with what the query "
            "asks for, no longer with the table",
            f"- Estimated cost on the test data (indexed plan): {before:.2f} → {after:.2f} "
            f"({_percent(before, after)})",
        ]
    if kind == Kind.NPLUSONE:
        queries = details.get("queries", 0)
        if "joinedload" in str(details.get("fix")):
            return [f"- Queries: {queries} → 0: the related rows come with the parent query"]
        return [f"- Queries: {queries} → 1 for all the parents' rows"]
    if kind in (Kind.PLAN_CHANGE, Kind.COST_REGRESSION) and details.get("cost_before"):
        before, after = details["cost_before"], details["cost_after"]
        return [
            f"- Estimated total cost of the test's statements: {before:.2f} → {after:.2f} "
            f"({_percent(before, after)})"
        ]
    if kind == Kind.DUPLICATE_QUERIES:
        return [f"- Queries: {details.get('queries')} → 1"]
    if kind == Kind.QUERY_BUDGET:
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
