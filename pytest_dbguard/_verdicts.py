"""Verdicts from EXPLAIN: unavoidable sequential scans, failed EXPLAINs, and plan snapshots."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._capture import Record, Statement
from ._compare import compare
from ._conditions import sort_columns
from ._explain import Explained, IndexCheck
from ._findings import Finding
from ._fingerprint import fingerprint
from ._format import display_sql, sites_text
from ._indexes import Candidate
from ._lints import LintHit
from ._plans import normalize, normalize_condition, plan_nodes, render
from ._seqscan import real_cost, without_disable_costs
from ._snapshot import (
    Snapshot,
    SnapshotError,
    StatementPlan,
    read_snapshot,
    render_snapshot,
    snapshot_dir,
    snapshot_name,
)


def explain_warnings(record: Record) -> list[Finding]:
    findings = []
    for statement in record.shapes():
        explained = statement.explained
        if explained is not None and explained.error:
            summary = f"EXPLAIN failed for {display_sql(statement.shape.fingerprint)}"
            findings.append(
                Finding(
                    kind="explain_error",
                    verdict="warn",
                    summary=summary,
                    message=f"{summary}: {explained.error}\n"
                    "  Its plan is not checked; the test's own statement ran as usual.",
                    details={"statement": statement.shape.fingerprint, "error": explained.error},
                    site=statement.first_call_site(),
                )
            )
    return findings


def seqscan_findings(record: Record, allowed: frozenset[str], mode: str) -> list[Finding]:
    findings = []
    for statement in record.shapes():
        explained = statement.explained
        if explained is None:
            continue
        seen = set()
        for check in explained.index_checks:
            scan = check.scan
            condition = normalize_condition(scan.condition)  # never a parameter value
            if scan.table in allowed or (scan.table, condition) in seen:
                continue
            seen.add((scan.table, condition))
            findings.append(_seqscan_finding(statement, check, condition, mode))
    return findings


def _rendered(plan: dict[str, Any]) -> list[str]:
    return render(normalize(without_disable_costs(plan)))


def _plan_details(explained: Explained | None) -> dict[str, Any] | None:
    """For reports: the plan that runs (or, without one, the plan with sequential scans off)."""
    plan = (explained.plan or explained.seqscan_off_plan) if explained else None
    if plan is None:
        return None
    return {"plan_before": _rendered(plan), "cost_before": real_cost(plan)}


def _suggestion(check: IndexCheck) -> dict[str, Any] | None:
    candidate = check.candidate
    if candidate is None:
        return None
    suggestion: dict[str, Any] = {
        "index": candidate.name,
        "table": candidate.table,
        "columns": list(candidate.columns),
        "create_sql": candidate.create_sql(concurrently=True),
        "alembic": candidate.alembic(),
        "verified": check.used,
        "error": check.error,
    }
    if check.plan_after is not None:
        using = [n for n in plan_nodes(check.plan_after) if n.get("Index Name") == candidate.name]
        suggestion["plan_after"] = _rendered(check.plan_after)
        suggestion["cost_after"] = real_cost(check.plan_after)
        suggestion["rows_after"] = float(using[0].get("Plan Rows", 0)) if using else None
        suggestion["scan_after"] = using[0]["Node Type"] if using else None
    return suggestion


def _fix_lines(table: str, suggestion: dict[str, Any] | None, rows: float) -> list[str]:
    if suggestion is None:
        return [
            "Fix: the condition compares no plain column an index could serve (an expression "
            "or a pattern): an expression index, or a condition on the column itself,"
        ]
    columns = ", ".join(suggestion["columns"])
    if not suggestion["verified"]:
        why = f" ({suggestion['error']})" if suggestion.get("error") else ""
        return [
            f"Fix: an index on {table} ({columns}) would not be used for this condition{why}:",
            "  rewrite it (an OR across columns becomes a UNION of indexed lookups),",
        ]
    before, after = suggestion["cost_before"], suggestion["cost_after"]
    lines = [
        f"Fix, verified on this database (PostgreSQL plans {_article(suggestion['scan_after'])} "
        f"with it: rows read {rows:,.0f} -> {suggestion['rows_after']:,.0f}, estimated cost "
        f"{before:.2f} -> {after:.2f}):",
        f"  {suggestion['create_sql']}",
    ]
    if after > before:
        lines.append(
            f"  (on {rows:,.0f} rows reading the whole table is still cheaper; the scan's cost "
            "grows with the table, the index's with the rows it returns)"
        )
    return lines


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _seqscan_finding(statement: Statement, check: IndexCheck, condition: str, mode: str) -> Finding:
    scan = check.scan
    column_text = ", ".join(scan.columns) or "?"
    summary = f"Unavoidable sequential scan: no index serves {scan.table} ({column_text})"
    site = statement.first_call_site()
    suggestion = _suggestion(check)
    cost_before = real_cost(check.plan_before) if check.plan_before else 0.0
    if suggestion is not None:
        suggestion["cost_before"] = cost_before
    rows = f" ({check.table_rows:,.0f} rows here)" if check.table_rows else ""
    lines = [
        summary,
        f"  {scan.scan} on {scan.table} for {scan.condition_kind}: {condition}",
        f"  Even with sequential scans disabled PostgreSQL reads every row of the table{rows}: "
        "fast on a test table, slow on a real one.",
        f"  {display_sql(statement.shape.fingerprint)}",
        f"  {sites_text([site])}",
        *_fix_lines(scan.table, suggestion, check.table_rows),
        f'  or accept it: @pytest.mark.allow_seqscan("{scan.table}")',
    ]
    explained = statement.explained
    return Finding(
        kind="seqscan",
        verdict=mode,
        summary=summary,
        message="\n".join(lines),
        details={
            "table": scan.table,
            "scan": scan.scan,
            "condition_kind": scan.condition_kind,
            "condition": condition,
            "columns": list(scan.columns),
            "statement": statement.shape.fingerprint,
            "call_site": str(site) if site else None,
            "table_rows": check.table_rows,
            "existing_indexes": check.existing_indexes,
            "plan_before": _rendered(check.plan_before) if check.plan_before else [],
            "cost_before": cost_before,
            "suggestion": suggestion,
            "analyze": analyze_summary(explained.analyzed_plan if explained else None),
        },
        site=site,
    )


def analyze_summary(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """Actual figures of EXPLAIN ANALYZE, for reports only (never snapshots)."""
    if plan is None:
        return None
    return {
        "actual_total_time_ms": float(plan.get("Actual Total Time", 0.0)),
        "actual_rows": int(plan.get("Actual Rows", 0)),
        "plan_rows": int(plan.get("Plan Rows", 0)),
    }


def current_snapshot(record: Record, test: str) -> Snapshot:
    statements = sorted(
        (s for s in record.shapes() if s.explained is not None and s.explained.plan is not None),
        key=lambda statement: statement.first_seq,
    )
    major = next((s.explained.server_major for s in statements if s.explained), 0)
    return Snapshot(
        server_major=major,
        test=test,
        statements=[
            StatementPlan(s.shape.fingerprint, s.count, normalize(s.explained.plan))  # type: ignore[union-attr, arg-type]
            for s in statements
        ],
    )


@dataclass(frozen=True)
class SnapshotWrite:
    """A snapshot file to write (``text``) or remove (``None``), relative to the rootdir."""

    path: str
    text: str | None


def check_plans(
    record: Record,
    nodeid: str,
    module_path: Path,
    rootdir: Path,
    tolerance: float,
    update: bool,
    only_major: int | None,
) -> tuple[list[Finding], SnapshotWrite | None]:
    path = snapshot_dir(module_path) / snapshot_name(nodeid)
    display = os.path.relpath(path, rootdir).replace(os.sep, "/")
    current = current_snapshot(record, nodeid)
    if only_major is not None and current.statements and current.server_major != only_major:
        record.plans_skipped_on = current.server_major
        return [], None
    try:
        stored = read_snapshot(path, display)
    except SnapshotError as error:
        if update:
            return [], _write(display, current)
        return [_plan_finding("plan_snapshot_error", "fail", str(error))], None
    verdict = compare(stored, current, tolerance, display)
    if update:
        return [], _write(display, current) if verdict.changed else None
    findings = [_plan_finding(kind, "fail", message) for kind, message in verdict.failures]
    for finding in findings:
        finding.details.update(verdict.details, snapshot=display)
    findings += [_plan_finding("cost_improved", "warn", note) for note in verdict.notes]
    return findings, None


def _write(display: str, current: Snapshot) -> SnapshotWrite:
    return SnapshotWrite(display, render_snapshot(current) if current.statements else None)


def _plan_finding(kind: str, verdict: str, message: str) -> Finding:
    return Finding(kind=kind, verdict=verdict, summary=message.splitlines()[0], message=message)


_LINT_TEXT = {
    "correlated_subquery": (
        "Correlated subquery: {detail} runs once for each of ~{rows} rows",
        "Fix: rewrite it as a JOIN with GROUP BY (or a LATERAL join): one pass instead of one "
        "subquery per row, e.g. LEFT JOIN (SELECT key, count(*) FROM ... GROUP BY key) ON ...",
    ),
    "cartesian_join": (
        "Cartesian product: {detail} has no join condition (~{rows} rows)",
        "Fix: add the missing join condition (ON ... / WHERE a.key = b.key)",
    ),
    "sort_without_index": (
        "Sort without an index: ORDER BY {detail} ... LIMIT reads and sorts all ~{rows} rows "
        "of {table}",
        "Fix: an index on {table} ({columns}) returns the rows already in order: {create_sql}",
    ),
}


def lint_findings(
    record: Record, enabled: frozenset[str], allowed: frozenset[str], mode: str
) -> list[Finding]:
    findings = []
    for statement in record.shapes():
        explained = statement.explained
        if explained is None or explained.error:
            continue
        for hit in explained.lint_hits:
            if hit.lint in enabled and hit.lint not in allowed:
                findings.append(_lint_finding(statement, hit, mode))
    return findings


def _lint_finding(statement: Statement, hit: LintHit, mode: str) -> Finding:
    detail = fingerprint(hit.detail)
    columns = sort_columns([detail], {hit.table or ""}) if hit.lint == "sort_without_index" else []
    candidate = Candidate(hit.table, tuple(columns)) if hit.table and columns else None
    values = {
        "detail": detail,
        "rows": f"{hit.rows:,}",
        "table": hit.table,
        "columns": ", ".join(columns) or detail,
        "create_sql": candidate.create_sql(concurrently=True) if candidate else "(on the sort key)",
    }
    diagnosis, fix = (text.format(**values) for text in _LINT_TEXT[hit.lint])
    site = statement.first_call_site()
    message = "\n".join(
        [
            diagnosis,
            f"  {display_sql(statement.shape.fingerprint)}",
            f"  {sites_text([site])}",
            fix,
            f'  or accept it: @pytest.mark.allow_lint("{hit.lint}")',
        ]
    )
    explained = statement.explained
    plan_details = _plan_details(explained) or {"plan_before": [], "cost_before": None}
    return Finding(
        kind=hit.lint,
        verdict=mode,
        summary=diagnosis,
        message=message,
        details={
            "lint": hit.lint,
            "table": hit.table,
            "detail": detail,
            "rows": hit.rows,
            "statement": statement.shape.fingerprint,
            "call_site": str(site) if site else None,
            **plan_details,
            "recommendation": fix.removeprefix("Fix: "),
            "create_sql": candidate.create_sql(concurrently=True) if candidate else None,
            "alembic": candidate.alembic() if candidate else None,
            "analyze": analyze_summary(explained.analyzed_plan if explained else None),
        },
        site=site,
    )


def attach_plans(record: Record, findings: list[Finding]) -> None:
    """Give findings about a statement (N+1, duplicates) its plan, for the report."""
    for finding in findings:
        details = finding.details
        if "plan_before" in details or not details.get("statement"):
            continue
        statement = record.by_shape.get(details["statement"])
        plan_details = _plan_details(statement.explained if statement else None)
        if plan_details is not None:
            details.update(plan_details)
