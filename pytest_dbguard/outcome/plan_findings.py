"""The findings of a test's examined statements (missing indexes, plan lints), and the plans
that findings about a statement (N+1, duplicates) carry into the reports."""

from __future__ import annotations

from collections.abc import Callable

from ..capture.record import Record, Statement
from ..findings import Finding, Mode
from ..markers import TestSpec
from ..options import Settings
from ..rules.text import display_sql
from .examine import Examination
from .lint_findings import lint_finding
from .missing_index import missing_index
from .plan_views import rendered, total_cost

IsTestFile = Callable[[str], bool]


def by_first_run(record: Record) -> list[Statement]:
    return sorted(record.shapes(), key=lambda statement: statement.first_seq)


def plan_findings(
    record: Record,
    examinations: dict[str, Examination],
    spec: TestSpec,
    settings: Settings,
    is_test_file: IsTestFile,
) -> list[Finding]:
    """The findings of the statements examined on the database."""
    findings: list[Finding] = []
    for statement in by_first_run(record):
        exam = examinations.get(statement.shape.fingerprint)
        if exam is None or exam.note:
            continue
        site = statement.first_call_site()
        if site is not None and is_test_file(site.path) and not settings.judge_test_queries:
            continue  # the test's own check of its results: not the application's query
        if settings.seqscan is not Mode.OFF:
            finding = missing_index(statement, exam, spec.allow_seqscan, settings.seqscan)
            if finding is not None:
                findings.append(finding)
        if settings.lints is not Mode.OFF:
            for hit in exam.lint_hits:
                if hit.lint in settings.lint_names and hit.lint not in spec.allow_lints:
                    findings.append(lint_finding(statement, exam, hit, settings.lints))
    return findings


def examination_notes(record: Record, examinations: dict[str, Examination]) -> list[str]:
    """Why statements could not be examined, in the order they first ran (whether the test
    passed or failed)."""
    notes = []
    for statement in by_first_run(record):
        exam = examinations.get(statement.shape.fingerprint)
        if exam is not None and exam.note:
            notes.append(f"{display_sql(statement.shape.fingerprint)}: {exam.note}")
    return notes


def attach_plans(examinations: dict[str, Examination], findings: list[Finding]) -> None:
    """Give findings about a statement (N+1, duplicates) its plan, for the report."""
    for finding in findings:
        details = finding.details
        fingerprint = details.get("statement")
        if "plan_before" in details or not fingerprint:
            continue
        exam = examinations.get(fingerprint)
        if exam is not None and exam.plan is not None:
            details["plan_before"] = rendered(exam.plan, exam)
            details["cost_before"] = total_cost(exam.plan)
