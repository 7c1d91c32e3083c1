"""Columns read by a plan condition (``Filter``, ``Hash Cond``, ...), parsed with sqlglot.

Conditions come from EXPLAIN as PostgreSQL expressions; a maintained parser reads them
reliably where regular expressions would not (casts, functions, quoting, operators).
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp

# References to other plan nodes, which are not SQL: "(SubPlan 1)", "(InitPlan 1).col1".
_PLAN_REFERENCES = re.compile(
    r"\((?:hashed )?(?:Sub|Init)Plan \d+\)(?:\.col\d+)?|(?:hashed )?SubPlan \d+"
)


def parse_condition(condition: str) -> Any:  # sqlglot's expression type, or None
    try:
        return sqlglot.parse_one(_PLAN_REFERENCES.sub("NULL", condition), read="postgres")
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return None


def columns_of(condition: str, qualifiers: set[str] | None = None) -> list[str]:
    """Column names in ``condition``; with ``qualifiers``, only those qualified by one of them
    (a table's name or alias) or not qualified at all."""
    tree = parse_condition(condition)
    if tree is None:
        return []
    names: dict[str, None] = {}
    for column in tree.find_all(exp.Column):
        if qualifiers is None or not column.table or column.table in qualifiers:
            names[column.name] = None
    return list(names)
