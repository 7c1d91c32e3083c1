"""Candidate indexes for a statement's whole-table reads, and the SQL that creates them.

Candidates come from the statement's conditions, for every table it reads (an unindexed filter
on one table can make PostgreSQL read *another* table in full and probe the filtered one by
primary key): per table, one index on its compared columns (equality, then IS NULL, then the
first range column, then the sort key when the statement orders and limits), one index per
arm of an OR (a BitmapOr needs each), and, for a table read in full, one on the columns that
join it to the others. An ``ORDER BY ... LIMIT`` with no condition at all is the
``sort_without_index`` lint's, not a missing index. The probe creates them all at once in its
savepoint; those the new plan uses, where it removes a whole-table read, are the fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .conditions import EQUALITY, NULL, RANGE, Comparison, Join, read_condition, sort_columns
from .identifiers import qualified, quote
from .plans import plan_nodes
from .reads import WholeRead

_MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names
_CONDITION_KEYS = (
    "Filter",
    "Join Filter",
    "Index Cond",
    "Recheck Cond",
    "Hash Cond",
    "Merge Cond",
)
_INDEXABLE_KINDS = ("r", "p")  # tables and partitioned tables


@dataclass(frozen=True)
class Candidate:
    schema: str
    table: str
    columns: tuple[str, ...]
    current_schema: str = field(default="", compare=False)
    partitioned: bool = field(default=False, compare=False)

    @property
    def target(self) -> str:
        return qualified(self.schema, self.table, self.current_schema)

    @property
    def name(self) -> str:
        """``idx_<table>_<columns>``, within PostgreSQL's 63 bytes."""
        words = [self.table, *self.columns]
        base = "_".join(
            "".join(char if char.isalnum() else "_" for char in word.lower()).strip("_")
            for word in words
        )
        name = "idx_" + base
        if len(name.encode()) > _MAX_IDENTIFIER:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            name = name.encode()[: _MAX_IDENTIFIER - 9].decode(errors="ignore") + "_" + digest
        return name

    def create_sql(self, *, concurrently: bool, name: str | None = None) -> str:
        # CREATE INDEX CONCURRENTLY does not exist for a partitioned table: the index is
        # created on the parent, which creates it on every partition.
        keyword = (
            "CREATE INDEX CONCURRENTLY" if concurrently and not self.partitioned else "CREATE INDEX"
        )
        columns = ", ".join(quote(column) for column in self.columns)
        return f"{keyword} {quote(name or self.name)} ON {self.target} ({columns});"

    def alembic(self) -> str:
        """The Alembic migration: outside a transaction, as CONCURRENTLY requires."""
        extra = [f"schema={self.schema!r}"] if self.schema != self.current_schema else []
        if not self.partitioned:
            extra.append("postgresql_concurrently=True")
        columns = "[" + ", ".join(repr(column) for column in self.columns) + "]"
        create = ", ".join([repr(self.name), repr(self.table), columns, *extra])
        drop = ", ".join([repr(self.name), f"table_name={self.table!r}", *extra])
        if self.partitioned:
            return (
                f"def upgrade() -> None:\n    op.create_index({create})\n\n\n"
                f"def downgrade() -> None:\n    op.drop_index({drop})"
            )
        block = "    with op.get_context().autocommit_block():\n        "
        return (
            f"def upgrade() -> None:\n{block}op.create_index({create})\n\n\n"
            f"def downgrade() -> None:\n{block}op.drop_index({drop})"
        )


@dataclass(frozen=True)
class TableFacts:
    """What candidates need to know of a table (from the probe's catalog read)."""

    schema: str
    name: str
    kind: str
    columns: dict[str, str]  # column -> type
    index_columns: tuple[tuple[str | None, ...], ...]  # each valid, non-partial index's keys
    root: tuple[str, str] | None = None  # the partitioned table of a partition


def _aliases(plan: dict[str, Any]) -> dict[str, tuple[str, str]]:
    found = {}
    for node in plan_nodes(plan):
        table = node.get("Relation Name")
        if table:
            found[node.get("Alias") or table] = (node.get("Schema") or "", table)
    return found


def compared_columns(
    plan: dict[str, Any],
) -> tuple[list[Comparison], list[Join], list[list[list[Comparison]]]]:
    """Every comparison, join and OR group in the plan's conditions."""
    comparisons: list[Comparison] = []
    joins: list[Join] = []
    alternatives: list[list[list[Comparison]]] = []
    for node in plan_nodes(plan):
        own = {node.get("Alias") or node["Relation Name"]} if node.get("Relation Name") else None
        for key in _CONDITION_KEYS:
            if key in node:
                reading = read_condition(str(node[key]), own)
                comparisons += reading.comparisons
                joins += reading.joins
                alternatives += reading.alternatives
    return comparisons, joins, alternatives


_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})


def candidates_for(
    plan: dict[str, Any],
    reads: Iterable[WholeRead],
    facts: dict[tuple[str, str], TableFacts],
    current_schema: str,
) -> list[Candidate]:
    aliases = _aliases(plan)
    comparisons, joins, alternatives = compared_columns(plan)
    read_aliases = {read.alias for read in reads}
    found: dict[Candidate, None] = {}

    def add(alias: str, columns: list[str]) -> None:
        relation = aliases.get(alias)
        table = facts.get(relation) if relation else None
        if table is None or table.kind not in _INDEXABLE_KINDS or not columns:
            return
        if table.schema in _SYSTEM_SCHEMAS:
            return  # PostgreSQL's own catalogs: no index of the application's to add
        columns = [c for c in dict.fromkeys(columns) if not _is_flag(table, c)]
        if not columns or _already_indexed(table, columns):
            return
        schema, name = table.root or (table.schema, table.name)
        partitioned = table.root is not None or table.kind == "p"
        found[Candidate(schema, name, tuple(columns), current_schema, partitioned)] = None

    for alias in aliases:
        mine = [c for c in comparisons if c.alias == alias]
        equality = [c.column for c in mine if c.kind == EQUALITY]
        nulls = [c.column for c in mine if c.kind == NULL]
        ranges = [c.column for c in mine if c.kind == RANGE]
        columns = list(dict.fromkeys([*equality, *nulls, *ranges[:1]]))
        if columns:
            add(alias, [*columns, *_limited_sort_keys(plan, {alias})])
        for group in alternatives:
            arms = [[c for c in arm if c.alias == alias] for arm in group]
            if all(arms) and len(group) == len(arms):
                for arm in arms:
                    add(alias, [c.column for c in arm])
        if alias in read_aliases:
            join_columns = [column for join in joins if (column := join.side(alias))]
            for column in dict.fromkeys(join_columns):
                add(alias, [column])
    return list(found)


def _is_flag(table: TableFacts, column: str) -> bool:
    """A boolean column: an index on it does not narrow a read (half the rows either way)."""
    return table.columns.get(column) == "boolean"


def _already_indexed(table: TableFacts, columns: list[str]) -> bool:
    return any(tuple(keys[: len(columns)]) == tuple(columns) for keys in table.index_columns)


def _limited_sort_keys(plan: dict[str, Any], aliases: set[str]) -> list[str]:
    """Sort columns of a Sort directly under a Limit (ORDER BY ... LIMIT)."""
    for node in plan_nodes(plan):
        if node.get("Node Type") != "Limit":
            continue
        for child in node.get("Plans", ()):
            if child.get("Node Type") in ("Sort", "Incremental Sort"):
                return sort_columns([str(key) for key in child.get("Sort Key", [])], aliases)
    return []
