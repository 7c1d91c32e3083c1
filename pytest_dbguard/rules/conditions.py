"""What a plan's conditions ask of each table, read with sqlglot: the comparisons a B-tree index
can serve, and the joins between tables.

Conditions come from EXPLAIN VERBOSE, where every column is qualified by its table's alias
(``items.user_id``); a maintained parser reads them reliably where regular expressions would
not (casts, functions, quoting, operators).

A B-tree index serves equality (``=``, ``= ANY (...)``, ``IN``), ranges (``<``, ``>=``,
``BETWEEN``) and ``IS NULL`` on a plain column. It does not narrow an inequality (``<>``, ``NOT
IN``), a negation, a pattern, an expression of the column, or a boolean flag (half the table on
either side): those give no candidate, and so never a missing-index finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# References to other plan nodes, which are not SQL: "(SubPlan 1)", "(InitPlan 1).col1", "$0".
_PLAN_REFERENCES = re.compile(
    r"\((?:hashed )?(?:Sub|Init)Plan \d+\)(?:\.col\d+)?|(?:hashed )?SubPlan \d+"
)

EQUALITY = "equality"
RANGE = "range"
NULL = "null"


@dataclass(frozen=True)
class Comparison:
    """A column of one table compared in a way a B-tree index serves."""

    alias: str  # the table's name or alias in the plan
    column: str
    kind: str  # EQUALITY, RANGE or NULL


@dataclass(frozen=True)
class Join:
    """``left_alias.left_column = right_alias.right_column``."""

    left_alias: str
    left_column: str
    right_alias: str
    right_column: str

    def side(self, alias: str) -> str | None:
        """The column of ``alias`` in this join, if it is one of its sides."""
        if alias == self.left_alias:
            return self.left_column
        if alias == self.right_alias:
            return self.right_column
        return None


@dataclass
class Reading:
    """What one condition asks: comparisons that must all hold, joins, and OR groups (each arm
    a list of comparisons; an index per arm serves the group, as a BitmapOr)."""

    comparisons: list[Comparison]
    joins: list[Join]
    alternatives: list[list[list[Comparison]]]


def parse_condition(condition: str) -> Any:  # sqlglot's expression type, or None
    import sqlglot  # imported when first needed: only findings need it, and it is large

    text = _PLAN_REFERENCES.sub("NULL", condition)
    try:
        return sqlglot.parse_one(text, read="postgres")
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return None


def read_condition(condition: str, aliases: set[str] | None = None) -> Reading:
    """The comparisons, joins and OR groups of ``condition``. A column without a qualifier
    belongs to the only alias in ``aliases`` (when there is exactly one)."""
    reading = Reading([], [], [])
    tree = parse_condition(condition)
    if tree is None:
        return reading
    default = next(iter(aliases)) if aliases and len(aliases) == 1 else None
    for part in _conjuncts(tree):
        _read_part(part, reading, default)
    return reading


def _conjuncts(tree: Any) -> list[Any]:
    from sqlglot import exp

    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.And):
        return [*_conjuncts(tree.left), *_conjuncts(tree.right)]
    return [tree]


def _disjuncts(tree: Any) -> list[Any]:
    from sqlglot import exp

    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.Or):
        return [*_disjuncts(tree.left), *_disjuncts(tree.right)]
    return [tree]


def _read_part(part: Any, reading: Reading, default: str | None) -> None:
    from sqlglot import exp

    while isinstance(part, exp.Paren):
        part = part.this
    if isinstance(part, exp.Or):
        arms = []
        for arm in _disjuncts(part):
            arm_reading = Reading([], [], [])
            for conjunct in _conjuncts(arm):
                _read_part(conjunct, arm_reading, default)
            if not arm_reading.comparisons:
                return  # an arm no index serves: the whole OR reads every row
            arms.append(arm_reading.comparisons)
        reading.alternatives.append(arms)
        return
    comparison_kinds = {exp.EQ: EQUALITY, exp.GT: RANGE, exp.GTE: RANGE, exp.LT: RANGE}
    comparison_kinds[exp.LTE] = RANGE
    kind = comparison_kinds.get(type(part))
    if kind is not None:
        left, right = _column(part.left, default), _column(part.right, default)
        if kind == EQUALITY and left and right and left[0] != right[0]:
            reading.joins.append(Join(left[0], left[1], right[0], right[1]))
            return
        for column, other in ((left, part.right), (right, part.left)):
            if column is not None and not _uses_columns(other):
                if not _is_boolean_literal(other):
                    reading.comparisons.append(Comparison(column[0], column[1], kind))
                return
        return
    if isinstance(part, exp.Between):
        column = _column(part.this, default)
        if column is not None:
            reading.comparisons.append(Comparison(column[0], column[1], RANGE))
        return
    if isinstance(part, exp.In) and not part.args.get("query"):
        column = _column(part.this, default)
        if column is not None:
            reading.comparisons.append(Comparison(column[0], column[1], EQUALITY))
        return
    if (
        isinstance(part, exp.Is)
        and isinstance(part.expression, exp.Null)
        and not part.args.get("negate")
    ):
        column = _column(part.this, default)
        if column is not None:
            reading.comparisons.append(Comparison(column[0], column[1], NULL))


def _column(node: Any, default: str | None) -> tuple[str, str] | None:
    """``(alias, column)`` for a plain column under casts and parentheses (``(status)::text``);
    None for an expression such as ``lower(email)``, which a plain index does not serve."""
    from sqlglot import exp

    while isinstance(node, (exp.Paren, exp.Cast)):
        node = node.this
    if not isinstance(node, exp.Column):
        return None
    alias = node.table or default
    return (alias, node.name) if alias else None


def _uses_columns(node: Any) -> bool:
    from sqlglot import exp

    return any(True for _ in node.find_all(exp.Column))


def _is_boolean_literal(node: Any) -> bool:
    from sqlglot import exp

    while isinstance(node, (exp.Paren, exp.Cast)):
        node = node.this
    return isinstance(node, exp.Boolean)


def sort_columns(sort_keys: list[str], aliases: set[str]) -> list[str]:
    """Plain columns of one table in a Sort node's keys (``items.created_at DESC``), up to the
    first key that is not one: an index gives the order only for a prefix of the keys."""
    columns = []
    default = next(iter(aliases)) if len(aliases) == 1 else None
    for key in sort_keys:
        expression = re.sub(r"\s+(ASC|DESC|NULLS (FIRST|LAST))\b", "", key, flags=re.I)
        tree = parse_condition(expression)
        column = _column(tree, default) if tree is not None else None
        if column is None or column[0] not in aliases:
            break
        columns.append(column[1])
    return columns


def columns_named(condition: str) -> list[str]:
    """Every column name in ``condition`` (for messages)."""
    from sqlglot import exp

    tree = parse_condition(condition)
    if tree is None:
        return []
    return list(dict.fromkeys(column.name for column in tree.find_all(exp.Column)))
