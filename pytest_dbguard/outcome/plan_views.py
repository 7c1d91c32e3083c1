"""How findings and snapshots show an examination's plans: the normalized tree, its lines, its
cost without the planner's disable cost, and the figures of EXPLAIN ANALYZE."""

from __future__ import annotations

from typing import Any

from ..rules.plans import PlanNode, disable_cost_free, normalize, render
from .examine import Examination


def rendered(plan: dict[str, Any] | None, exam: Examination) -> list[str]:
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


def total_cost(plan: dict[str, Any] | None) -> float:
    """A plan's estimated total cost, without the disable cost PostgreSQL before 18 adds."""
    return disable_cost_free(float((plan or {}).get("Total Cost", 0.0)))
