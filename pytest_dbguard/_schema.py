"""Schema checks on PostgreSQL's catalog: unindexed foreign keys, tables without a primary key,
and redundant indexes. Read-only catalog queries, without parameters (they run unchanged on
every driver), on a connection the checks open themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from ._explain import DriverSession
from ._indexes import Candidate

_USER_SCHEMAS = (
    "ns.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND ns.nspname NOT LIKE 'pg\\_toast%' AND ns.nspname NOT LIKE 'pg\\_temp%'"
)

# Foreign keys with no valid, non-partial index whose first columns are the foreign key's
# columns, in any order (an index on (b, a) serves a foreign key on (a, b)).
_UNINDEXED_FOREIGN_KEYS = f"""
SELECT c.conrelid::regclass::text, c.conname,
       ARRAY(SELECT a.attname::text
             FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.n),
       c.confrelid::regclass::text
FROM pg_constraint c
JOIN pg_namespace ns ON ns.oid = c.connamespace
WHERE c.contype = 'f' AND {_USER_SCHEMAS}
  AND NOT EXISTS (
    SELECT 1 FROM pg_index i
    WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
      AND (SELECT array_agg(x ORDER BY x)
           FROM unnest((string_to_array(i.indkey::text, ' ')::int2[])
                       [1:cardinality(c.conkey)]) AS x)
          = (SELECT array_agg(x ORDER BY x) FROM unnest(c.conkey) AS x)
  )
ORDER BY 1, 2
"""

_TABLES_WITHOUT_PRIMARY_KEY = f"""
SELECT c.oid::regclass::text
FROM pg_class c
JOIN pg_namespace ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {_USER_SCHEMAS}
  AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')
ORDER BY 1
"""

# An index whose key columns are the first key columns of another index of the same table and
# kind is redundant, unless it enforces something the other does not (primary key, unique).
_REDUNDANT_INDEXES = f"""
SELECT ca.oid::regclass::text, cb.oid::regclass::text, ia.indrelid::regclass::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(string_to_array(ia.indkey::text, ' ')::int2[])
                  WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = ia.indrelid AND a.attnum = k.attnum
             ORDER BY k.n)
FROM pg_index ia
JOIN pg_index ib ON ib.indrelid = ia.indrelid AND ib.indexrelid <> ia.indexrelid
JOIN pg_class ca ON ca.oid = ia.indexrelid
JOIN pg_class cb ON cb.oid = ib.indexrelid
JOIN pg_namespace ns ON ns.oid = ca.relnamespace
WHERE {_USER_SCHEMAS}
  AND ia.indisvalid AND ib.indisvalid AND ca.relam = cb.relam
  AND ia.indpred IS NULL AND ib.indpred IS NULL
  AND ia.indexprs IS NULL AND ib.indexprs IS NULL
  AND NOT ia.indisprimary
  AND (
    (ib.indkey::text LIKE ia.indkey::text || ' %' AND NOT ia.indisunique)
    OR (ib.indkey::text = ia.indkey::text
        AND (ib.indisprimary OR (ib.indisunique AND NOT ia.indisunique)
             OR (ib.indisunique = ia.indisunique AND ca.relname > cb.relname)))
  )
ORDER BY 1, 2
"""


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


Run = Callable[[str], Sequence[Sequence[Any]]]


def check_schema(run: Run) -> list[SchemaFinding]:
    findings = []
    for table, constraint, columns, referenced in run(_UNINDEXED_FOREIGN_KEYS):
        candidate = Candidate(table, tuple(columns))
        findings.append(
            SchemaFinding(
                "unindexed_foreign_key",
                table,
                tuple(columns),
                f"Foreign key {constraint} on {table} ({', '.join(columns)}) -> {referenced} "
                "has no index that leads with its columns: every delete or key update on "
                f"{referenced}, and every join from it, scans {table}",
                candidate.create_sql(concurrently=True),
            )
        )
    for (table,) in run(_TABLES_WITHOUT_PRIMARY_KEY):
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
    for redundant, covering, table, columns in run(_REDUNDANT_INDEXES):
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


def check_engine(engine: Engine) -> list[SchemaFinding]:
    """Run the checks on a connection of the engine's own pool, bypassing SQLAlchemy's events
    (the checks are the plugin's statements: never captured, never counted)."""
    if engine.dialect.is_async:
        raise TypeError(
            "schema checks need a synchronous engine (for an AsyncEngine, pass its URL to "
            "sqlalchemy.create_engine with a synchronous driver)"
        )
    raw = engine.raw_connection()
    try:
        session = DriverSession(raw.dbapi_connection)
        try:
            return check_schema(session.run)
        finally:
            raw.rollback()
    finally:
        raw.close()
