"""A test's plans against its golden snapshot: the snapshot of this run, the comparison, and
with --dbguard-update the file to write instead of a failure."""

from __future__ import annotations

from pathlib import Path

from ..capture.record import Record
from ..findings import Finding, Kind, Mode
from ..options import Settings
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
from .examine import Examination
from .judge import TestOutcome
from .plan_findings import by_first_run
from .plan_views import plan_tree


def current_snapshot(
    record: Record, examinations: dict[str, Examination], nodeid: str, as_is: bool
) -> Snapshot:
    statements = []
    major = 0
    for statement in by_first_run(record):
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
