"""Index suggestions: a candidate derived from a plan, and the statements that create it.

The candidate for a scan is the columns its condition compares, equality columns first, then
range columns, then the sort key when the statement orders and limits (the order in which a
B-tree serves them). ``_explain`` proves it by creating it inside a savepoint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ._conditions import index_columns, sort_columns
from ._plans import plan_nodes
from ._seqscan import UnavoidableScan

_MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names
_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")
_PART = r'(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")'
_FROM_CATALOG = re.compile(rf"^(?:{_PART}\.{_PART}|\"(?:[^\"]|\"\")+\")$")
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True)
class Candidate:
    table: str
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        table = _NOT_IN_NAMES.sub("_", self.table.split(".")[-1]).strip("_").lower()
        name = "idx_" + "_".join((table, *self.columns))
        if len(name) > _MAX_IDENTIFIER:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            name = name[: _MAX_IDENTIFIER - 9] + "_" + digest
        return name

    def create_sql(self, *, concurrently: bool) -> str:
        keyword = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
        columns = ", ".join(quote(column) for column in self.columns)
        return f"{keyword} {quote(self.name)} ON {quote(self.table)} ({columns});"

    def alembic(self) -> str:
        columns = ", ".join(repr(column) for column in self.columns)
        return "\n".join(
            [
                "def upgrade() -> None:",
                "    with op.get_context().autocommit_block():",
                "        op.create_index(",
                f"            {self.name!r},",
                f"            {self.table!r},",
                f"            [{columns}],",
                "            postgresql_concurrently=True,",
                "        )",
                "",
                "",
                "def downgrade() -> None:",
                "    with op.get_context().autocommit_block():",
                "        op.drop_index(",
                f"            {self.name!r},",
                f"            table_name={self.table!r},",
                "            postgresql_concurrently=True,",
                "        )",
            ]
        )


def quote(identifier: str) -> str:
    """A name as SQL needs it; one that comes from the catalog already quoted and qualified
    (``regclass::text``: ``"Odd Table"``, ``archive.items``) is left as it is."""
    if _PLAIN_IDENTIFIER.match(identifier) or _FROM_CATALOG.match(identifier):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def candidate_for(scan: UnavoidableScan, plan: dict[str, Any]) -> Candidate | None:
    """The index that could serve the scan's condition, or None when no plain column of the
    table is compared in a way a B-tree serves."""
    table, qualifiers = scan.table, {scan.table, scan.alias}
    equality, ranges = index_columns(scan.condition, qualifiers, qualified_only=scan.qualified_only)
    if not equality and not ranges:
        return None
    columns = list(dict.fromkeys([*equality, *ranges]))
    for column in _limited_sort_keys(plan, qualifiers):
        if column not in columns:
            columns.append(column)
    return Candidate(table, tuple(columns))


def _limited_sort_keys(plan: dict[str, Any], qualifiers: set[str]) -> list[str]:
    """Sort columns of a Sort directly under a Limit (ORDER BY ... LIMIT)."""
    for node in plan_nodes(plan):
        if node.get("Node Type") != "Limit":
            continue
        for child in node.get("Plans", ()):
            if child.get("Node Type") in ("Sort", "Incremental Sort"):
                return sort_columns(list(child.get("Sort Key", [])), qualifiers)
    return []
