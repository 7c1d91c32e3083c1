"""Findings of the plan lints: a correlated subquery, a cartesian join, a sort no index serves."""

from __future__ import annotations

from ..capture.record import Statement
from ..findings import Finding, Kind, Mode
from ..rules.candidates import Candidate
from ..rules.conditions import sort_columns
from ..rules.lints import LintHit
from ..rules.plans import normalize_text
from ..rules.text import display_sql, sites_text
from .examine import Examination
from .plan_views import analyze_summary, rendered, total_cost

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


def lint_finding(statement: Statement, exam: Examination, hit: LintHit, mode: Mode) -> Finding:
    detail = normalize_text(hit.detail)
    candidate = None
    if hit.lint == "sort_without_index" and hit.table:
        columns = sort_columns([hit.detail], {hit.alias or hit.table})
        if columns:
            candidate = Candidate(hit.schema, hit.table, tuple(columns), exam.current_schema)
    values = {
        "detail": detail,
        "rows": f"{hit.rows:,}",
        "table": candidate.target if candidate else hit.table,
        "columns": ", ".join(candidate.columns) if candidate else detail,
        "create_sql": candidate.create_sql(concurrently=True) if candidate else "(on the sort key)",
    }
    diagnosis, fix = (text.format(**values) for text in _LINT_TEXT[hit.lint])
    site = statement.first_call_site()
    lines = [
        diagnosis,
        f"  {display_sql(statement.shape.fingerprint)}",
        f"  {sites_text([site])}",
        fix,
        f'  or accept it: @pytest.mark.allow_lint("{hit.lint}")',
    ]
    return Finding.from_lines(
        Kind(hit.lint),
        mode,
        lines,
        {
            "lint": hit.lint,
            "table": hit.table,
            "detail": detail,
            "rows": hit.rows,
            "statement": statement.shape.fingerprint,
            "call_site": str(site) if site else None,
            "plan_before": rendered(exam.plan, exam),
            "cost_before": total_cost(exam.plan),
            "recommendation": fix.removeprefix("Fix: "),
            "create_sql": candidate.create_sql(concurrently=True) if candidate else None,
            "alembic": candidate.alembic() if candidate else None,
            "analyze": analyze_summary(exam.analyzed_plan),
        },
        site=site,
    )
