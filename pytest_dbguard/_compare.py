"""Compare a test's plans with its golden snapshot.

Structure (statements, run counts, plan trees) is compared with deepdiff and shown as a text
diff of the rendered trees; estimated total costs are compared with a relative tolerance.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ._format import display_sql
from ._snapshot import Snapshot, statement_lines

_MAX_DIFF_LINES = 80


@dataclass
class PlanVerdict:
    failures: list[tuple[str, str]] = field(default_factory=list)  # (finding kind, message)
    details: dict[str, Any] = field(default_factory=dict)  # both plans, for reports
    notes: list[str] = field(default_factory=list)  # improvements worth recording
    changed: bool = False  # --dbguard-update would write a new snapshot


def _structure(snapshot: Snapshot) -> list[dict[str, Any]]:
    return [
        {"sql": statement.sql, "runs": statement.runs, "plan": statement.plan.structure()}
        for statement in snapshot.statements
    ]


def _lines(snapshot: Snapshot, *, figures: bool) -> list[str]:
    lines = []
    for number, statement in enumerate(snapshot.statements, start=1):
        lines += statement_lines(number, statement, figures=figures)
    return lines


def compare(stored: Snapshot | None, current: Snapshot, tolerance: float, path: str) -> PlanVerdict:
    verdict = PlanVerdict()
    if stored is None:
        if current.statements:
            verdict.changed = True
            verdict.failures.append(
                (
                    "plan_missing",
                    f"No plan snapshot for this test: run pytest --dbguard-update to write {path} "
                    f"({len(current.statements)} statements)",
                )
            )
        return verdict
    if stored.server_major != current.server_major:
        verdict.changed = True
        verdict.failures.append(
            (
                "plan_version",
                f"The plan snapshot {path} was taken on PostgreSQL {stored.server_major}; this "
                f"server runs PostgreSQL {current.server_major}, whose planner makes other plans. "
                f"Check plans on PostgreSQL {stored.server_major}, or retake the snapshot here "
                "with --dbguard-update.",
            )
        )
        return verdict
    if _structurally_changed(stored, current):
        verdict.changed = True
        verdict.failures.append(("plan_change", _changed_message(stored, current, path)))
        verdict.details = _both_plans(stored, current)
        return verdict
    for number, (old, new) in enumerate(
        zip(stored.statements, current.statements, strict=True), start=1
    ):
        before, after = old.plan.total_cost, new.plan.total_cost
        change = (after - before) / before if before > 0 else 0.0
        figures = f"estimated total cost {before:.2f} -> {after:.2f} ({change:+.0%})"
        where = f"statement {number}: {display_sql(new.sql)}"
        if change > tolerance:
            verdict.changed = True
            verdict.details = _both_plans(stored, current)
            verdict.failures.append(
                (
                    "cost_regression",
                    f"Cost regression in {path}, {where}\n  {figures}, more than the "
                    f"{tolerance:.0%} tolerance (--dbguard-cost-tolerance)",
                )
            )
        elif change < -tolerance:
            verdict.changed = True
            verdict.notes.append(
                f"Cost improved in {path}, {where}\n  {figures}: record it with --dbguard-update"
            )
    return verdict


def _structurally_changed(stored: Snapshot, current: Snapshot) -> bool:
    """Equal structures, the common case, are told by ``==`` (deepdiff takes milliseconds
    even then); deepdiff judges the others."""
    before, after = _structure(stored), _structure(current)
    if before == after:
        return False
    from deepdiff import DeepDiff  # imported when a snapshot first differs

    return bool(DeepDiff(before, after))


def _both_plans(stored: Snapshot, current: Snapshot) -> dict[str, Any]:
    return {
        "plan_before": _lines(stored, figures=True),
        "plan_after": _lines(current, figures=True),
        "cost_before": sum(statement.plan.total_cost for statement in stored.statements),
        "cost_after": sum(statement.plan.total_cost for statement in current.statements),
    }


def _changed_message(stored: Snapshot, current: Snapshot, path: str) -> str:
    diff = list(
        difflib.unified_diff(
            _lines(stored, figures=False),
            _lines(current, figures=False),
            fromfile=f"{path} (snapshot)",
            tofile="this run",
            lineterm="",
            n=2,
        )
    )
    if len(diff) > _MAX_DIFF_LINES:
        hidden = len(diff) - _MAX_DIFF_LINES
        diff = [*diff[:_MAX_DIFF_LINES], f"... {hidden} more diff lines"]
    return "\n".join(
        [
            f"Plans changed against {path}",
            *diff,
            "If the new plans are intended, accept them with --dbguard-update.",
        ]
    )
