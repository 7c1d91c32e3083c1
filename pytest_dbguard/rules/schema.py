"""Schema checks on PostgreSQL's catalog: unindexed foreign keys, tables without a primary key,
and redundant indexes, judged from the catalog rows the probe reads (``probe.catalog``).
Table names come from the catalog already quoted and qualified as SQL needs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..probe.catalog import SchemaRows
from .candidates import Candidate
from .identifiers import quote


def _index_name(table: str, columns: list[str]) -> str:
    name = table.rsplit(".", 1)[-1].strip('"')
    return quote(Candidate("", name, tuple(columns)).name)


@dataclass(frozen=True)
class SchemaFinding:
    check: str  # "unindexed_foreign_key", "missing_primary_key", "redundant_index"
    table: str
    columns: tuple[str, ...]
    summary: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "table": self.table,
            "columns": list(self.columns),
            "summary": self.summary,
            "fix": self.fix,
        }


def schema_findings(rows: SchemaRows) -> list[SchemaFinding]:
    findings = []
    for table, constraint, columns, referenced in rows.unindexed_foreign_keys:
        keys = ", ".join(quote(column) for column in columns)
        fix = f"CREATE INDEX CONCURRENTLY {_index_name(table, columns)} ON {table} ({keys});"
        findings.append(
            SchemaFinding(
                "unindexed_foreign_key",
                table,
                tuple(columns),
                f"Foreign key {constraint} on {table} ({', '.join(columns)}) -> {referenced} "
                "has no index that leads with its columns: every delete or key update on "
                f"{referenced}, and every join from it, scans {table}",
                fix,
            )
        )
    for (table,) in rows.tables_without_primary_key:
        findings.append(
            SchemaFinding(
                "missing_primary_key",
                table,
                (),
                f"Table {table} has no primary key: rows cannot be addressed one by one "
                "(ORM identity, logical replication, safe updates)",
                f"ALTER TABLE {table} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY "
                "PRIMARY KEY;  -- or ADD PRIMARY KEY (<its key columns>)",
            )
        )
    for redundant, covering, table, columns in rows.redundant_indexes:
        findings.append(
            SchemaFinding(
                "redundant_index",
                table,
                tuple(columns),
                f"Index {redundant} on {table} ({', '.join(columns)}) duplicates the leading "
                f"columns of {covering}: every write maintains both, every read can use "
                f"{covering}",
                f"DROP INDEX CONCURRENTLY {redundant};",
            )
        )
    return findings
