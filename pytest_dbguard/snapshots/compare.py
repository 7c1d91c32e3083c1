"""Compare a test's plans with its golden snapshot, and say what changed the way a reviewer
asks: which table's access changed (``items: Index Scan using ix_items_user_id -> Seq Scan``),
which join changed its method or its tables, which statements came or went; then the diff of
the ``.plan`` text. Statements are matched by their fingerprint. Figures (as-is plans only) are
compared with a relative tolerance.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ..findings import Kind
from ..rules.plans import PlanNode
from ..rules.text import display_sql
from .format import Snapshot, StatementPlan, statement_lines

_MAX_DIFF_LINES = 80
_JOINS = ("Nested Loop", "Hash Join", "Merge Join")


@dataclass
class PlanVerdict:
    failures: list[tuple[Kind, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # improvements worth recording
    changes: list[str] = field(default_factory=list)  # the structured change, one per line
    details: dict[str, Any] = field(default_factory=dict)  # both plans, for reports
    changed: bool = False  # --dbguard-update would write a new snapshot


def compare(stored: Snapshot | None, current: Snapshot, tolerance: float, path: str) -> PlanVerdict:
    verdict = PlanVerdict()
    if stored is None:
        if current.statements:
            verdict.changed = True
            count = len(current.statements)
            verdict.failures.append(
                (
                    Kind.PLAN_MISSING,
                    f"No plan snapshot for this test: run pytest --dbguard-plans "
                    f"--dbguard-update to write {path} ({count} statement{'s' * (count != 1)})",
                )
            )
        return verdict
    if stored.server_major != current.server_major:
        verdict.changed = True
        verdict.failures.append(
            (
                Kind.PLAN_VERSION,
                f"The plan snapshot {path} was taken on PostgreSQL {stored.server_major}; this "
                f"server runs PostgreSQL {current.server_major}, whose planner makes other plans. "
                f"Check plans on PostgreSQL {stored.server_major} "
                "(--dbguard-plans-postgresql), or retake the snapshot here with --dbguard-update.",
            )
        )
        return verdict
    if stored.plans != current.plans:
        verdict.changed = True
        verdict.failures.append(
            (
                Kind.PLAN_CHANGE,
                f"The plan snapshot {path} holds {stored.plans} plans; this run takes "
                f"{current.plans} plans (--dbguard-plans-as-is): retake it with --dbguard-update.",
            )
        )
        return verdict
    verdict.changes = describe_changes(stored, current)
    if verdict.changes:
        verdict.changed = True
        verdict.failures.append(
            (Kind.PLAN_CHANGE, _changed_message(stored, current, path, verdict.changes))
        )
        verdict.details = _both_plans(stored, current, verdict.changes)
        return verdict
    _compare_costs(stored, current, tolerance, path, verdict)
    return verdict


def describe_changes(stored: Snapshot, current: Snapshot) -> list[str]:
    """One line per change between two snapshots, statement by statement."""
    before, after = stored.by_sql(), current.by_sql()
    changes = []
    for sql in after:
        if sql not in before:
            changes.append(f"new statement: {display_sql(sql)}")
    for sql in before:
        if sql not in after:
            changes.append(f"statement no longer run: {display_sql(sql)}")
    for sql, old in before.items():
        new = after.get(sql)
        if new is not None and old.plan.structure() != new.plan.structure():
            changes += [f"{display_sql(sql)}: {line}" for line in plan_changes(old.plan, new.plan)]
    return changes


def plan_changes(old: PlanNode, new: PlanNode) -> list[str]:
    """What changed between two plans of one statement: table accesses, joins, and (found by
    deepdiff) any other property of the tree."""
    lines = _access_changes(old, new) + _join_changes(old, new)
    if not lines:
        lines = _other_changes(old, new)
    return lines or ["the plan's shape changed"]


def _accesses(plan: PlanNode) -> dict[str, PlanNode]:
    found: dict[str, PlanNode] = {}
    for node in plan.walk():
        if node.relation and node.node_type != "ModifyTable":  # the write target, not a read
            name = node.relation if not node.alias else f"{node.relation} {node.alias}"
            found.setdefault(name, node)
    return found


def _access(node: PlanNode) -> str:
    text = node.node_type + (f" using {node.index}" if node.index else "")
    condition = node.properties.get("Index Cond")
    return text + (f" ({condition})" if condition else "")


def _access_changes(old: PlanNode, new: PlanNode) -> list[str]:
    before, after = _accesses(old), _accesses(new)
    lines = []
    for name, node in before.items():
        if name not in after:
            lines.append(f"{name} is no longer read (was {_access(node)})")
        elif _access(node) != _access(after[name]):
            lines.append(f"{name}: {_access(node)} -> {_access(after[name])}")
    lines += [
        f"{name} is now read: {_access(node)}" for name, node in after.items() if name not in before
    ]
    return lines


def _joins(plan: PlanNode) -> list[tuple[str, str]]:
    joins = []
    for node in plan.walk():
        if node.node_type in _JOINS:
            sides = " and ".join(
                "(" + ", ".join(sorted(_accesses(child))) + ")" for child in node.children
            )
            method = node.node_type + f" ({node.properties.get('Join Type', 'Inner')})"
            joins.append((sides, method))
    return joins


def _join_changes(old: PlanNode, new: PlanNode) -> list[str]:
    before, after = _joins(old), _joins(new)
    if before == after:
        return []
    lines = []
    after_methods = dict(after)
    for sides, method in before:
        if sides in after_methods and after_methods[sides] != method:
            lines.append(f"join of {sides}: {method} -> {after_methods[sides]}")
    if not lines:
        old_order = "; ".join(f"{method} of {sides}" for sides, method in before) or "no join"
        new_order = "; ".join(f"{method} of {sides}" for sides, method in after) or "no join"
        lines.append(f"joins: {old_order} -> {new_order}")
    return lines


def _other_changes(old: PlanNode, new: PlanNode) -> list[str]:
    """Changes deepdiff finds in the rest of the tree (a condition, a sort key, a strategy),
    each named by the node it belongs to."""
    from deepdiff import DeepDiff  # imported when a plan first differs

    before, after = old.structure(), new.structure()
    lines = []
    for changes in DeepDiff(before, after, view="tree").values():
        for level in changes:
            path = level.path(output_format="list")
            node, key = _owner(before, path)
            where = str(node.get("node")) + (
                f" on {node['relation']}" if node.get("relation") else ""
            )
            lines.append(f"{where}: {key} {_short(level.t1)} -> {_short(level.t2)}")
    return sorted(set(lines))[:10]


def _owner(structure: dict[str, Any], path: list[Any]) -> tuple[dict[str, Any], str]:
    """The deepest plan node on ``path`` that exists in ``structure``, and what changed in it."""
    owner, rest, current = structure, list(path), structure
    for index, step in enumerate(path):
        if isinstance(current, dict) and "node" in current:
            owner, rest = current, list(path[index:])
        try:
            current = current[step]
        except (KeyError, IndexError, TypeError):
            break
    if rest[:1] == ["properties"] and len(rest) > 1:
        return owner, str(rest[1])
    return owner, "child nodes" if rest[:1] == ["children"] else str(rest[0] if rest else "?")


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("node", "..."))
    text = "none" if value is None or type(value).__name__ == "NotPresent" else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _compare_costs(
    stored: Snapshot, current: Snapshot, tolerance: float, path: str, verdict: PlanVerdict
) -> None:
    """As-is plans only: an estimated total cost that grew past the tolerance fails, one that
    fell past it is a note."""
    before = stored.by_sql()
    for statement in current.statements:
        old = before[statement.sql]
        old_cost, new_cost = old.plan.total_cost, statement.plan.total_cost
        if old_cost is None or new_cost is None:
            continue
        change = (new_cost - old_cost) / old_cost if old_cost > 0 else 0.0
        figures = (
            f"estimated total cost {old_cost:.2f} -> {new_cost:.2f} ({change:+.0%}), "
            f"rows {old.plan.rows} -> {statement.plan.rows}"
        )
        where = display_sql(statement.sql)
        if change > tolerance:
            verdict.changed = True
            verdict.details = _both_plans(stored, current, [])
            verdict.failures.append(
                (
                    Kind.COST_REGRESSION,
                    f"Cost regression in {path}: {where}\n  {figures}, more than the "
                    f"{tolerance:.0%} tolerance (--dbguard-cost-tolerance)",
                )
            )
        elif change < -tolerance:
            verdict.changed = True
            verdict.notes.append(
                f"Cost improved in {path}: {where}\n  {figures}: record it with --dbguard-update"
            )


def _lines(statements: list[StatementPlan]) -> list[str]:
    lines: list[str] = []
    for statement in statements:
        lines += [*statement_lines(statement), ""]
    return lines


def _both_plans(stored: Snapshot, current: Snapshot, changes: list[str]) -> dict[str, Any]:
    details: dict[str, Any] = {
        "plan_before": _lines(stored.statements),
        "plan_after": _lines(current.statements),
        "changes": changes,
    }
    costs = [s.plan.total_cost for s in stored.statements]
    if costs and None not in costs:
        details["cost_before"] = sum(c for c in costs if c is not None)
        details["cost_after"] = sum(s.plan.total_cost or 0.0 for s in current.statements)
    return details


def _changed_message(stored: Snapshot, current: Snapshot, path: str, changes: list[str]) -> str:
    """The change first, then the diff. Statements are diffed in a shared order (the stored
    ones, then new ones), so that one statement more or less is one hunk."""
    order = [s.sql for s in stored.statements] + [
        s.sql for s in current.statements if s.sql not in stored.by_sql()
    ]
    before, after = stored.by_sql(), current.by_sql()
    diff = list(
        difflib.unified_diff(
            _lines([before[sql] for sql in order if sql in before]),
            _lines([after[sql] for sql in order if sql in after]),
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
            f"Plans changed against {path}:",
            *(f"  {line}" for line in changes),
            "",
            *diff,
            "If the new plans are intended, accept them with --dbguard-plans --dbguard-update.",
        ]
    )
