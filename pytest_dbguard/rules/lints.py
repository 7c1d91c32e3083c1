"""Plan lints: costly shapes in the plans already captured, beyond sequential scans.

- ``correlated_subquery``: a SubPlan (not hashed) under a node that returns several rows runs
  once per row: rewrite as a JOIN with GROUP BY.
- ``cartesian_join``: a Nested Loop with no join condition at all, between two multi-row inputs.
- ``sort_without_index``: ORDER BY ... LIMIT that reads and sorts the whole table, judged on the
  indexed plan (sequential scans priced out: no index can provide the order).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .plans import CONDITIONS, plan_nodes

LINTS = ("correlated_subquery", "cartesian_join", "sort_without_index")


@dataclass(frozen=True)
class LintHit:
    lint: str
    table: str | None
    detail: str  # what the plan shows (may hold parameter values: normalize before display)
    rows: int  # how many rows drive the problem (outer rows, rows sorted)
    schema: str = ""
    alias: str | None = None


def lint_plans(plan: dict[str, Any]) -> list[LintHit]:
    """The lints' hits in an indexed plan."""
    return [*_correlated_subqueries(plan), *_cartesian_joins(plan), *_sorts_without_index(plan)]


def _text_of(node: dict[str, Any]) -> str:
    return " ".join(str(node.get(key, "")) for key in CONDITIONS)


def _correlated_subqueries(plan: dict[str, Any]) -> Iterator[LintHit]:
    for node in plan_nodes(plan):
        rows = int(node.get("Plan Rows", 0))
        for child in node.get("Plans", ()):
            name = child.get("Subplan Name", "")
            if child.get("Parent Relationship") != "SubPlan" or not name.startswith("SubPlan"):
                continue
            if f"hashed {name}" in _text_of(node):
                continue  # a hashed SubPlan runs once
            if rows >= 2:
                tables = [n["Relation Name"] for n in plan_nodes(child) if "Relation Name" in n]
                yield LintHit(
                    "correlated_subquery",
                    tables[0] if tables else None,
                    f"{name} under {node['Node Type']}",
                    rows,
                )


def _aliases(node: dict[str, Any]) -> set[str]:
    return {n.get("Alias") or n["Relation Name"] for n in plan_nodes(node) if "Relation Name" in n}


def _cartesian_joins(plan: dict[str, Any]) -> Iterator[LintHit]:
    for node in plan_nodes(plan):
        children = node.get("Plans", [])
        if node.get("Node Type") != "Nested Loop" or len(children) != 2 or "Join Filter" in node:
            continue
        outer, inner = children
        inner_text = " ".join(_text_of(n) for n in plan_nodes(inner))
        if any(re.search(rf"\b{re.escape(alias)}\.", inner_text) for alias in _aliases(outer)):
            continue  # a parameterized inner side: the join condition is there
        if min(int(outer.get("Plan Rows", 0)), int(inner.get("Plan Rows", 0))) < 2:
            continue  # one row on a side: a lookup, not a product
        tables = sorted(_aliases(outer) | _aliases(inner))
        yield LintHit(
            "cartesian_join",
            tables[0] if tables else None,
            "Nested Loop of " + " and ".join(tables),
            int(node.get("Plan Rows", 0)),
        )


def _sorts_without_index(plan: dict[str, Any]) -> Iterator[LintHit]:
    for node in plan_nodes(plan):
        if node.get("Node Type") != "Limit":
            continue
        for child in node.get("Plans", ()):
            if child.get("Node Type") != "Sort":
                continue
            scans = [n for n in plan_nodes(child) if _reads_whole_table(n)]
            if scans and "Filter" not in scans[0]:
                yield LintHit(
                    "sort_without_index",
                    scans[0].get("Relation Name"),
                    ", ".join(child.get("Sort Key", [])),
                    int(scans[0].get("Plan Rows", 0)),
                    scans[0].get("Schema") or "",
                    scans[0].get("Alias"),
                )


def _reads_whole_table(node: dict[str, Any]) -> bool:
    kind = node.get("Node Type")
    return kind == "Seq Scan" or (
        kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node
    )
