"""Sequential scans that no index can avoid, read from a plan made with ``enable_seqscan = off``.

A tiny test table makes the planner prefer a sequential scan even when an index exists, so a
Seq Scan in the ordinary plan proves nothing. With sequential scans disabled the planner uses
any index that serves the query; what still reads the whole table is the finding:

- a Seq Scan that is disabled (PostgreSQL 18 says ``"Disabled": true``; earlier versions add a
  disable cost of 1e10 to its startup cost) and still applies a filter, or is the inner side of
  a join whose condition selects its rows while the other side is restricted;
- an Index Scan or Index Only Scan with a Filter and no Index Cond: a full walk of some index
  (often the primary key, for an ORDER BY) standing in for the sequential scan.

A scan with no condition at all reads the whole table by design (a report, a count).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._conditions import columns_of
from ._plans import plan_nodes

_DISABLE_COST = 1.0e10
_JOINS = ("Hash Join", "Merge Join", "Nested Loop")
_RESTRICTIONS = ("Filter", "Index Cond", "Recheck Cond", "Join Filter")
_PASS_THROUGH = ("Hash", "Materialize", "Memoize", "Sort", "Incremental Sort")


@dataclass(frozen=True)
class UnavoidableScan:
    table: str
    alias: str
    scan: str  # "Seq Scan", or "Index Scan using <index> (no Index Cond)"
    condition_kind: str  # "Filter", "Hash Cond", "Join Filter", ...
    condition: str  # as EXPLAIN prints it: may hold parameter values, never stored as is
    columns: tuple[str, ...]
    qualified_only: bool = False  # a join condition: bare column names are the other table's

    @property
    def full_index_walk(self) -> bool:
        return self.scan != "Seq Scan"


def _disabled(node: dict[str, Any]) -> bool:
    if "Disabled" in node:
        return node["Disabled"] is True
    return float(node.get("Startup Cost", 0.0)) >= _DISABLE_COST


def _restricted(node: dict[str, Any]) -> bool:
    """Whether the query narrows this subtree's rows (a condition, or a LIMIT)."""
    if node.get("Node Type") == "Limit" or any(key in node for key in _RESTRICTIONS):
        return True
    return any(_restricted(child) for child in node.get("Plans", ()))


def real_cost(plan: dict[str, Any]) -> float:
    """A plan's total cost without the 1e10 that PostgreSQL before 18 adds to every disabled
    sequential scan (18 marks them ``Disabled`` instead)."""
    disabled = sum(
        1
        for node in plan_nodes(plan)
        if node.get("Node Type") == "Seq Scan" and "Disabled" not in node and _disabled(node)
    )
    return float(plan.get("Total Cost", 0.0)) - disabled * _DISABLE_COST


def without_disable_costs(plan: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``plan`` whose every node's costs leave out the disable cost."""
    copy = {key: value for key, value in plan.items() if key != "Plans"}
    children = [without_disable_costs(child) for child in plan.get("Plans", ())]
    if children:
        copy["Plans"] = children
    copy["Total Cost"] = real_cost(plan)
    return copy


def unavoidable_scans(plan: dict[str, Any]) -> Iterator[UnavoidableScan]:
    yield from _visit(plan, [])


def _visit(node: dict[str, Any], ancestors: list[dict[str, Any]]) -> Iterator[UnavoidableScan]:
    finding = _judge(node, ancestors)
    if finding is not None:
        yield finding
    for child in node.get("Plans", ()):
        yield from _visit(child, [*ancestors, node])


def _judge(node: dict[str, Any], ancestors: list[dict[str, Any]]) -> UnavoidableScan | None:
    kind = node.get("Node Type")
    table = node.get("Relation Name")
    if table is None:
        return None
    alias = node.get("Alias") or table
    qualifiers = {table, alias}
    if kind in ("Index Scan", "Index Only Scan"):
        if "Filter" in node and "Index Cond" not in node:
            scan = f"{kind} using {node.get('Index Name')} (no Index Cond)"
            return _finding(table, alias, scan, "Filter", node["Filter"], qualifiers)
        return None
    if kind != "Seq Scan" or not _disabled(node):
        return None
    if "Filter" in node:
        return _finding(table, alias, "Seq Scan", "Filter", node["Filter"], qualifiers)
    join, branch = _enclosing_join(node, ancestors)
    if join is None:
        return None
    others = [child for child in join.get("Plans", ()) if child is not branch]
    if not any(_restricted(child) for child in others):
        return None  # both sides read in full: a report-style join, by design
    # The join condition: on the join itself, or pushed into the other side as a
    # parameterized lookup (a nested loop's inner Index Cond: "(id = items.user_id)").
    for holder in [join, *(node for child in others for node in plan_nodes(child))]:
        for key in ("Hash Cond", "Merge Cond", "Join Filter", "Index Cond", "Recheck Cond"):
            condition = holder.get(key)
            if condition and columns_of(condition, {alias}, qualified_only=True):
                return _finding(table, alias, "Seq Scan", key, condition, {alias}, join=True)
    return None


def _enclosing_join(
    node: dict[str, Any], ancestors: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The join this scan feeds, through the nodes that only buffer its rows."""
    branch = node
    for ancestor in reversed(ancestors):
        kind = ancestor.get("Node Type")
        if kind in _JOINS:
            return ancestor, branch
        if kind not in _PASS_THROUGH:
            break
        branch = ancestor
    return None, branch


def _finding(
    table: str,
    alias: str,
    scan: str,
    kind: str,
    condition: str,
    qualifiers: set[str],
    *,
    join: bool = False,
) -> UnavoidableScan:
    columns = tuple(columns_of(condition, qualifiers, qualified_only=join))
    return UnavoidableScan(table, alias, scan, kind, condition, columns, join)
