"""Columns read by a plan condition (``Filter``, ``Hash Cond``, ...), parsed with sqlglot.

Conditions come from EXPLAIN as PostgreSQL expressions; a maintained parser reads them
reliably where regular expressions would not (casts, functions, quoting, operators).
"""

from __future__ import annotations

import re
from typing import Any

# References to other plan nodes, which are not SQL: "(SubPlan 1)", "(InitPlan 1).col1".
_PLAN_REFERENCES = re.compile(
    r"\((?:hashed )?(?:Sub|Init)Plan \d+\)(?:\.col\d+)?|(?:hashed )?SubPlan \d+"
)


def parse_condition(condition: str) -> Any:  # sqlglot's expression type, or None
    import sqlglot  # imported when first needed: only findings need it, and it is large

    try:
        return sqlglot.parse_one(_PLAN_REFERENCES.sub("NULL", condition), read="postgres")
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return None


def columns_of(
    condition: str, qualifiers: set[str] | None = None, *, qualified_only: bool = False
) -> list[str]:
    """Column names in ``condition``; with ``qualifiers``, only those qualified by one of them
    (a table's name or alias), or not qualified at all unless ``qualified_only`` (a
    condition taken from another table's node, where bare names are that table's)."""
    from sqlglot import exp

    tree = parse_condition(condition)
    if tree is None:
        return []
    names: dict[str, None] = {}
    for column in tree.find_all(exp.Column):
        if qualifiers is None or _belongs(column, qualifiers, qualified_only):
            names[column.name] = None
    return list(names)


def _belongs(column: Any, qualifiers: set[str], qualified_only: bool) -> bool:
    return column.table in qualifiers if column.table else not qualified_only


def _bare_column(node: Any) -> Any:
    """The column under casts and parentheses (``(status)::text``), or None for an expression
    such as ``lower(email)``, which a plain index on the column does not serve."""
    from sqlglot import exp

    while isinstance(node, (exp.Paren, exp.Cast)):
        node = node.this
    return node if isinstance(node, exp.Column) else None


def index_columns(
    condition: str, qualifiers: set[str], *, qualified_only: bool = False
) -> tuple[list[str], list[str]]:
    """The columns of one table that a B-tree index could serve in ``condition``: compared
    for equality (``=``, ``= ANY``, joins) and compared as a range (``<``, ``>=``,
    BETWEEN), in the order they appear. Inequalities, patterns and expressions are left out."""
    from sqlglot import exp

    tree = parse_condition(condition)
    if tree is None:
        return [], []

    def mine(column: Any) -> bool:
        return _belongs(column, qualifiers, qualified_only)

    equality: dict[str, None] = {}
    ranges: dict[str, None] = {}
    comparisons = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
    for node in tree.find_all(*comparisons):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            column = _bare_column(side)
            if column is None or not mine(column):
                continue
            if any(mine(found) for found in other.find_all(exp.Column)):
                continue
            (equality if isinstance(node, exp.EQ) else ranges)[column.name] = None
            break
    for node in tree.find_all(exp.Between):
        column = _bare_column(node.this)
        if column is not None and mine(column):
            ranges[column.name] = None
    return list(equality), [name for name in ranges if name not in equality]


def sort_columns(sort_keys: list[str], qualifiers: set[str]) -> list[str]:
    """Plain columns of one table in a Sort node's keys (``items.created_at DESC``)."""
    columns = []
    for key in sort_keys:
        expression = re.sub(r"\s+(ASC|DESC|NULLS (FIRST|LAST))\b", "", key, flags=re.I)
        column = _bare_column(parse_condition(expression))
        if column is None or not _belongs(column, qualifiers, qualified_only=False):
            break  # an index can provide the order only up to the first other key
        columns.append(column.name)
    return columns
