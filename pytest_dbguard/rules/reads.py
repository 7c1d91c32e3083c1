"""Whole-table reads in an indexed plan (sequential scans priced out, see probe/profile.py).

On a test table of a few rows PostgreSQL reads the whole table whatever the indexes, so a Seq
Scan in the ordinary plan proves nothing. In the indexed plan the planner uses any index that
serves the statement; what still reads a whole table is a candidate finding:

- a Seq Scan (PostgreSQL chose it although it is priced out: nothing else could read the rows);
- an index walk without an Index Cond (a full walk of some index, often the primary key, standing
  in for a sequential scan), unless it is the ordered walk of an ``ORDER BY ... LIMIT`` that
  stops after a few rows;
- an index walk whose Index Cond does not constrain the index's first column (before
  PostgreSQL 18 the whole index is read; from 18 a skip scan may do better, but only when the
  first column has few values).

Which of these are *missing indexes* is decided by trial (``outcome/examine.py``): a read is a
finding when an index on the statement's compared columns, created in the probe's savepoint,
removes it. A read that no index removes (a report without any condition, an inequality, a
flag) is not a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_INDEX_WALKS = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
_ORDER_PRESERVING = ("Limit", "Result", "Subquery Scan", "LockRows")
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class WholeRead:
    alias: str  # the table's name or alias in the plan
    schema: str
    table: str
    scan: str  # "Seq Scan", or "Index Scan using <index>"
    why: str  # how the plan reads every row, for the message
    filter: str | None  # the condition applied to every row read, as EXPLAIN prints it

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.alias)


def whole_reads(
    plan: dict[str, Any], index_columns: dict[str, tuple[str | None, ...]]
) -> list[WholeRead]:
    """The whole-table reads of ``plan``; ``index_columns`` maps an index name to its key
    columns (to tell a walk whose condition skips the first column)."""
    reads: list[WholeRead] = []
    _visit(plan, [], reads, index_columns)
    return reads


def _visit(
    node: dict[str, Any],
    ancestors: list[dict[str, Any]],
    reads: list[WholeRead],
    index_columns: dict[str, tuple[str | None, ...]],
) -> None:
    read = _judge(node, ancestors, index_columns)
    if read is not None:
        reads.append(read)
    for child in node.get("Plans", ()):
        _visit(child, [*ancestors, node], reads, index_columns)


def _judge(
    node: dict[str, Any],
    ancestors: list[dict[str, Any]],
    index_columns: dict[str, tuple[str | None, ...]],
) -> WholeRead | None:
    kind = node.get("Node Type")
    table = node.get("Relation Name")
    if kind == "Bitmap Index Scan":
        heap = ancestors[-1] if ancestors else {}
        while heap.get("Node Type") in ("BitmapAnd", "BitmapOr") and len(ancestors) > 1:
            ancestors = ancestors[:-1]
            heap = ancestors[-1]
        table, node_for_names = heap.get("Relation Name"), heap
    else:
        node_for_names = node
    if table is None:
        return None
    alias = node_for_names.get("Alias") or table
    schema = node_for_names.get("Schema") or ""

    def read(scan: str, why: str) -> WholeRead:
        return WholeRead(alias, schema, table, scan, why, node_for_names.get("Filter"))

    if kind == "Seq Scan":
        return read("Seq Scan", "a sequential scan")
    if kind not in _INDEX_WALKS:
        return None
    index = node.get("Index Name", "?")
    scan = f"{'Index Scan' if kind != 'Bitmap Index Scan' else 'Bitmap Index Scan'} using {index}"
    condition = node.get("Index Cond")
    if condition is None:
        if kind != "Bitmap Index Scan" and _ordered_top_rows(node, ancestors):
            return None
        return read(scan, f"a walk of the whole index {index} without a condition")
    columns = index_columns.get(index)
    if columns and columns[0] is not None and not _constrains(condition, alias, columns[0]):
        return read(
            scan,
            f"a walk of the whole index {index}: its condition skips its first column "
            f"({columns[0]})",
        )
    return None


def _ordered_top_rows(node: dict[str, Any], ancestors: list[dict[str, Any]]) -> bool:
    """An index walk that gives the order of an ``ORDER BY ... LIMIT`` and stops after a few
    rows: under a Limit through nodes that keep order, with no Filter dropping rows."""
    if "Filter" in node:
        return False
    for ancestor in reversed(ancestors):
        kind = ancestor.get("Node Type")
        if kind == "Limit":
            return True
        if kind not in _ORDER_PRESERVING:
            return False
    return False


def _constrains(condition: str, alias: str, column: str) -> bool:
    """Whether an Index Cond names the scanned relation's ``column``. EXPLAIN VERBOSE qualifies
    every column with its relation's alias, and an Index Cond holds only the index's own
    columns of that relation, so a match of ``alias.column`` outside string literals says it;
    it spares the import of sqlglot (a fifth of a second) for the plans of most sessions."""
    text = _STRING_LITERAL.sub("''", condition)
    return re.search(_qualified(alias, column), text) is not None


def _qualified(alias: str, column: str) -> str:
    """A pattern for ``alias.column`` as EXPLAIN prints it, each name bare or quoted."""

    def name(identifier: str) -> str:
        quoted = '"' + identifier.replace('"', '""') + '"'
        return f"(?:{re.escape(identifier)}|{re.escape(quoted)})"

    return rf'(?<![\w$".]){name(alias)}\.{name(column)}(?![\w$"])'
