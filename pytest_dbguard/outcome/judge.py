"""One test's findings, from its record, its examinations and its markers: budgets, N+1,
missing indexes (proven by trial) and plan lints. Its plans against the golden snapshot are
plan_snapshots.py's."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..capture.record import Record
from ..findings import Finding, Mode
from ..markers import TestSpec
from ..options import Settings
from ..rules.budgets import check_budget, count_whole_test
from ..rules.nplusone import find_duplicates, find_nplusone
from .examine import Examination
from .plan_findings import IsTestFile, attach_plans, examination_notes, plan_findings


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
    outcome.findings += plan_findings(record, examinations, spec, settings, is_test_file)
    outcome.notes = examination_notes(record, examinations)
    attach_plans(examinations, outcome.findings)
    return outcome
