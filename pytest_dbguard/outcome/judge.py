"""One test's findings, from its record, its examinations and its markers: budgets, N+1,
missing indexes (proven by trial), plan lints, and its plans against the golden snapshot."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..capture.record import Record, Statement
from ..findings import Finding, Kind, Mode
from ..markers import TestSpec
from ..options import Settings
from ..rules.budgets import check_budget, count_whole_test
from ..rules.candidates import Candidate
from ..rules.conditions import sort_columns
from ..rules.lints import LintHit
from ..rules.nplusone import find_duplicates, find_nplusone
from ..rules.plans import PlanNode, disable_cost_free, normalize, normalize_text, render
from ..rules.reads import WholeRead
from ..rules.text import display_sql, sites_text
from ..snapshots.compare import compare
from ..snapshots.format import (
    AS_IS,
    INDEXED,
    Snapshot,
    SnapshotError,
    StatementPlan,
    read_snapshot,
    render_snapshot,
)
from ..snapshots.location import relative, snapshot_path
from .examine import Examination, accepted

IsTestFile = Callable[[str], bool]


@dataclass
class TestOutcome:
    """What the plugin concluded about one test."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # statements not examined, and why
    snapshot: tuple[str, str] | None = None  # (path relative to the rootdir, text) to write
    plans_skipped_on: int | None = None  # a PostgreSQL version the snapshots do not record
    examined: int = 0  # statements examined on the database
    reused: int = 0  # statements whose examination an earlier test's served


def judge(
    record: Record,
    examinations: dict[str, Examination],
    spec: TestSpec,
    settings: Settings,
    is_test_file: IsTestFile,
) -> TestOutcome:
    outcome = TestOutcome()
    for budget in spec.budgets:
        count = count_whole_test(budget, record)
        finding = check_budget(budget, record, count, (0, None), settings.show_params)
        if finding is not None:
            outcome.findings.append(finding)
    if settings.nplusone is not Mode.OFF and not spec.allow_nplusone:
        outcome.findings += find_nplusone(record, settings.nplusone_threshold, settings.nplusone)
    if settings.duplicates is not Mode.OFF:
        outcome.findings += find_duplicates(
            record, settings.nplusone_threshold, settings.duplicates
        )
    for statement in _by_first_run(record):
        exam = examinations.get(statement.shape.fingerprint)
        if exam is None:
            continue
        if exam.note:
            outcome.notes.append(f"{display_sql(statement.shape.fingerprint)}: {exam.note}")
            continue
        site = statement.first_call_site()
        if site is not None and is_test_file(site.path) and not settings.judge_test_queries:
            continue  # the test's own check of its results: not the application's query
        if settings.seqscan is not Mode.OFF:
            finding = missing_index(statement, exam, spec.allow_seqscan, settings.seqscan)
            if finding is not None:
                outcome.findings.append(finding)
        if settings.lints is not Mode.OFF:
            for hit in exam.lint_hits:
                if hit.lint in settings.lint_names and hit.lint not in spec.allow_lints:
                    outcome.findings.append(_lint_finding(statement, exam, hit, settings.lints))
    _attach_plans(record, examinations, outcome.findings)
    return outcome


def _by_first_run(record: Record) -> list[Statement]:
    return sorted(record.shapes(), key=lambda statement: statement.first_seq)


# -- missing indexes ----------------------------------------------------------------------------


def _table_name(read: WholeRead, exam: Examination) -> str:
    return read.table if read.schema in ("", exam.current_schema) else f"{read.schema}.{read.table}"


def _columns(candidate: Candidate) -> str:
    return f"{candidate.target} ({', '.join(candidate.columns)})"


def _read_line(read: WholeRead, exam: Examination) -> str:
    line = f"  PostgreSQL reads every row of {_table_name(read, exam)} ({read.why})"
    if read.filter:
        line += f" and keeps those where {normalize_text(read.filter)}"
    return line


def missing_index(
    statement: Statement, exam: Examination, allowed: frozenset[str], mode: Mode
) -> Finding | None:
    """A finding when trial indexes removed a whole-table read (the fix is proven), or when
    they could not be tried (and the message says why)."""
    if exam.fix is not None:
        reads, indexes = list(exam.fix.removed), list(exam.fix.indexes)
    elif exam.trial_error and exam.candidates:
        reads, indexes = list(exam.reads), list(exam.candidates)
    else:
        return None
    if all(accepted(read, allowed) for read in reads):
        return None
    plural = "es" if len(indexes) > 1 else ""
    served = ", ".join(_columns(candidate) for candidate in indexes)
    summary = f"Missing index{plural}: no index serves {served}"
    site = statement.first_call_site()
    lines = [
        summary,
        *(_read_line(read, exam) for read in reads),
        f"  {display_sql(statement.shape.fingerprint)}",
        f"  {sites_text([site])}",
    ]
    if exam.fix is not None:
        lines.append(
            "Fix, verified on this database (with it the plan reads "
            + ", ".join(_table_name(read, exam) for read in reads)
            + " through an index):"
        )
    else:
        lines.append(f"Fix, not verified: the index could not be tried here ({exam.trial_error}):")
    lines += [f"  {candidate.create_sql(concurrently=True)}" for candidate in indexes]
    tables = sorted({read.table for read in reads})
    accept = ", ".join(f'"{table}"' for table in tables)
    lines.append(f"  or accept it: @pytest.mark.allow_seqscan({accept})")
    before = exam.plan or {}
    after = exam.fix.plan_after if exam.fix is not None else None
    return Finding(
        kind=Kind.MISSING_INDEX,
        verdict=mode,
        summary=summary,
        message="\n".join(lines),
        details={
            "tables": tables,
            "statement": statement.shape.fingerprint,
            "call_site": str(site) if site else None,
            "reads": [
                {
                    "table": _table_name(read, exam),
                    "scan": read.scan,
                    "why": read.why,
                    "filter": normalize_text(read.filter) if read.filter else None,
                }
                for read in reads
            ],
            "indexes": [_index_details(candidate) for candidate in indexes],
            "verified": exam.fix is not None,
            "trial_error": exam.trial_error,
            "existing_indexes": sorted(
                definition for definitions in exam.indexes.values() for definition in definitions
            ),
            "plan_before": _rendered(before, exam),
            "cost_before": disable_cost_free(float(before.get("Total Cost", 0.0))),
            "plan_after": _with_suggested_names(_rendered(after, exam), exam) if after else None,
            "cost_after": disable_cost_free(float(after["Total Cost"])) if after else None,
            "analyze": analyze_summary(exam.analyzed_plan),
        },
        site=site,
    )


def _with_suggested_names(lines: list[str], exam: Examination) -> list[str]:
    """The plan with trial indexes, naming each by the name the fix gives it."""
    names = exam.fix.names if exam.fix is not None else {}
    pattern = re.compile(r"\bdbguard_trial_\d+\b")
    return [
        pattern.sub(lambda match: names.get(match.group(), match.group()), line) for line in lines
    ]


def _index_details(candidate: Candidate) -> dict[str, Any]:
    return {
        "name": candidate.name,
        "table": candidate.target,
        "columns": list(candidate.columns),
        "create_sql": candidate.create_sql(concurrently=True),
        "alembic": candidate.alembic(),
    }


def _rendered(plan: dict[str, Any] | None, exam: Examination) -> list[str]:
    if not plan:
        return []
    return render(plan_tree(plan, exam, canonical=True))


def plan_tree(plan: dict[str, Any], exam: Examination, *, canonical: bool) -> PlanNode:
    return normalize(
        plan,
        current_schema=exam.current_schema,
        canonical=canonical,
        index_columns=exam.index_columns,
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


# -- plan lints ---------------------------------------------------------------------------------

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


def _lint_finding(statement: Statement, exam: Examination, hit: LintHit, mode: Mode) -> Finding:
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
    message = "\n".join(
        [
            diagnosis,
            f"  {display_sql(statement.shape.fingerprint)}",
            f"  {sites_text([site])}",
            fix,
            f'  or accept it: @pytest.mark.allow_lint("{hit.lint}")',
        ]
    )
    return Finding(
        kind=Kind(hit.lint),
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
            "plan_before": _rendered(exam.plan, exam),
            "cost_before": disable_cost_free(float((exam.plan or {}).get("Total Cost", 0.0))),
            "recommendation": fix.removeprefix("Fix: "),
            "create_sql": candidate.create_sql(concurrently=True) if candidate else None,
            "alembic": candidate.alembic() if candidate else None,
            "analyze": analyze_summary(exam.analyzed_plan),
        },
        site=site,
    )


def _attach_plans(
    record: Record, examinations: dict[str, Examination], findings: list[Finding]
) -> None:
    """Give findings about a statement (N+1, duplicates) its plan, for the report."""
    for finding in findings:
        details = finding.details
        fingerprint = details.get("statement")
        if "plan_before" in details or not fingerprint:
            continue
        exam = examinations.get(fingerprint)
        if exam is not None and exam.plan is not None:
            details["plan_before"] = _rendered(exam.plan, exam)
            details["cost_before"] = disable_cost_free(float(exam.plan.get("Total Cost", 0.0)))


# -- plan snapshots -----------------------------------------------------------------------------


def current_snapshot(
    record: Record, examinations: dict[str, Examination], nodeid: str, as_is: bool
) -> Snapshot:
    statements = []
    major = 0
    for statement in _by_first_run(record):
        exam = examinations.get(statement.shape.fingerprint)
        plan = None if exam is None else (exam.as_is_plan if as_is else exam.plan)
        if exam is None or plan is None:
            continue
        major = major or exam.server_major
        tree = plan_tree(plan, exam, canonical=not as_is)
        statements.append(StatementPlan(statement.shape.fingerprint, tree))
    return Snapshot(major, AS_IS if as_is else INDEXED, nodeid, statements)


def check_plans(
    outcome: TestOutcome,
    record: Record,
    examinations: dict[str, Examination],
    nodeid: str,
    rootdir: Path,
    settings: Settings,
) -> None:
    """Compare the test's plans with its golden snapshot; with --dbguard-update, queue the new
    snapshot instead of failing."""
    path = snapshot_path(rootdir, nodeid)
    display = relative(path, rootdir)
    current = current_snapshot(record, examinations, nodeid, settings.plans_as_is)
    only = settings.plans_postgresql
    if only is not None and current.statements and current.server_major != only:
        outcome.plans_skipped_on = current.server_major
        return
    try:
        stored = read_snapshot(path, display)
    except SnapshotError as error:
        if settings.update:
            outcome.snapshot = (display, render_snapshot(current))
        else:
            outcome.findings.append(_plan_finding(Kind.PLAN_SNAPSHOT_ERROR, Mode.FAIL, str(error)))
        return
    if stored is not None and stored.test and stored.test != nodeid:
        problem = f"{display}: holds the plans of {stored.test}, not of {nodeid}"
        outcome.findings.append(_plan_finding(Kind.PLAN_SNAPSHOT_ERROR, Mode.FAIL, problem))
        return
    verdict = compare(stored, current, settings.cost_tolerance, display)
    if settings.update:
        if verdict.changed:
            outcome.snapshot = (display, render_snapshot(current))
        return
    for kind, message in verdict.failures:
        finding = _plan_finding(kind, Mode.FAIL, message)
        finding.details.update(verdict.details, snapshot=display)
        outcome.findings.append(finding)
    outcome.findings += [
        _plan_finding(Kind.COST_IMPROVED, Mode.WARN, note) for note in verdict.notes
    ]


def _plan_finding(kind: Kind, verdict: Mode, message: str) -> Finding:
    return Finding(kind=kind, verdict=verdict, summary=message.splitlines()[0], message=message)
