"""Catalog reads of the probe: read-only queries without parameters (names are written as
SQL literals), so that they run unchanged on every driver.

- ``schema_version``: the server, the role and the search path, and a hash of what the catalog
  says of every relation the connection can see (columns, indexes, constraints, view
  definitions, partitions): equal versions mean an examination made earlier still holds.
- ``relation_facts``: what the rules need to know of the tables a plan reads (columns and
  their types, indexes and their columns, the partitioned table a partition belongs to, who
  owns it).
- ``volatile_functions``: which of some function names may act (``--dbguard-analyze`` runs only
  statements that cannot).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .driver import Driver
from .session import Probe, read_catalog

_FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: objects below it are built in

# A cheap signal that changes with any DDL: the ids and row versions of the catalog rows of
# user relations, indexes and constraints (one query of a few hundred rows).
SCHEMA_SIGNAL_SQL = f"""
SELECT current_setting('server_version_num'), current_user::text,
       current_setting('search_path'), coalesce(current_schema()::text, ''),
       md5(concat_ws('|',
         (SELECT string_agg(c.oid || '.' || c.xmin, ',' ORDER BY c.oid)
            FROM pg_class c WHERE c.oid >= {_FIRST_USER_OID}),
         (SELECT string_agg(i.indexrelid || '.' || i.xmin, ',' ORDER BY i.indexrelid)
            FROM pg_index i WHERE i.indexrelid >= {_FIRST_USER_OID}),
         (SELECT string_agg(k.oid || '.' || k.xmin, ',' ORDER BY k.oid)
            FROM pg_constraint k WHERE k.oid >= {_FIRST_USER_OID})))
"""

# The catalog's content, not its object ids: a schema built again the same way (a fixture that
# creates the tables for each test, another database of the same suite) has the same version.
SCHEMA_CONTENT_SQL = """
SELECT md5(coalesce(string_agg(relation, ',' ORDER BY relation), ''))
FROM (
  SELECT concat_ws(':',
           CASE WHEN n.oid = pg_my_temp_schema() THEN 'pg_temp' ELSE n.nspname END,
           c.relname, c.relkind, c.relispartition, pg_get_expr(c.relpartbound, c.oid),
           (SELECT string_agg(concat_ws('.', a.attnum, a.attname, format_type(a.atttypid,
                                        a.atttypmod), a.attnotnull), ';' ORDER BY a.attnum)
              FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT string_agg(concat_ws('.', ic.relname, i.indkey, i.indclass, i.indoption,
                                        i.indisunique, i.indisvalid, i.indnkeyatts,
                                        pg_get_expr(i.indpred, i.indrelid),
                                        pg_get_expr(i.indexprs, i.indrelid)),
                              ';' ORDER BY ic.relname)
              FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indrelid = c.oid),
           (SELECT string_agg(concat_ws('.', k.conname, k.contype, k.conkey, k.confkey,
                                        k.convalidated), ';' ORDER BY k.conname)
              FROM pg_constraint k WHERE k.conrelid = c.oid),
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
         ) AS relation
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%'
    AND (n.nspname NOT LIKE 'pg\\_temp\\_%' OR n.oid = pg_my_temp_schema())
) AS relations
"""


@dataclass(frozen=True)
class SchemaVersion:
    server: str  # server_version_num
    role: str
    search_path: str
    current_schema: str
    catalog: str  # a hash of what the catalog says of every relation


def schema_signal(driver: Driver) -> SchemaVersion:
    """The connection's server, role and search path, with the cheap DDL signal as ``catalog``
    (one round trip: it runs for each test)."""
    row = read_catalog(driver, SCHEMA_SIGNAL_SQL)[0]
    return SchemaVersion(*(str(value) for value in row))


def schema_content(driver: Driver) -> str:
    """The hash of what the catalog says of every relation (heavier: once per signal)."""
    return str(read_catalog(driver, SCHEMA_CONTENT_SQL)[0][0])


@dataclass(frozen=True)
class IndexFacts:
    name: str
    columns: tuple[str | None, ...]  # key columns in order; None for an expression
    unique: bool
    partial: bool
    valid: bool
    definition: str


@dataclass(frozen=True)
class RelationFacts:
    schema: str
    name: str
    kind: str  # pg_class.relkind: r table, p partitioned, v view, m materialized view, ...
    root: tuple[str, str] | None  # the partitioned table at the top, for a partition
    owned: bool  # the role may create an index on it
    columns: dict[str, str] = field(default_factory=dict)  # name -> type
    indexes: tuple[IndexFacts, ...] = ()


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_RELATION_FACTS_SQL = """
SELECT coalesce(json_agg(json_build_object(
  'schema', n.nspname, 'name', c.relname, 'kind', c.relkind,
  'root', (SELECT json_build_array(rn.nspname, rc.relname)
             FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
            WHERE rc.oid = pg_partition_root(c.oid) AND rc.oid <> c.oid),
  'owned', pg_has_role(c.relowner, 'USAGE'),
  'columns', (SELECT json_object_agg(a.attname, format_type(a.atttypid, a.atttypmod))
                FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'indexes', (SELECT json_agg(json_build_object(
                'name', ic.relname,
                'columns', (SELECT json_agg(a.attname ORDER BY k.n)
                              FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                              LEFT JOIN pg_attribute a
                                ON a.attrelid = c.oid AND a.attnum = k.attnum AND k.attnum > 0
                             WHERE k.n <= i.indnkeyatts),
                'unique', i.indisunique, 'partial', i.indpred IS NOT NULL,
                'valid', i.indisvalid, 'definition', pg_get_indexdef(i.indexrelid))
                ORDER BY ic.relname)
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
               WHERE i.indrelid = c.oid)
  )), '[]')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN ({pairs})
"""


def relation_facts(probe: Probe, relations: list[tuple[str, str]]) -> list[RelationFacts]:
    """Facts about ``(schema, name)`` relations (the names EXPLAIN VERBOSE gives)."""
    if not relations:
        return []
    pairs = ", ".join(f"({literal(schema)}, {literal(name)})" for schema, name in relations)
    document: Any = probe.rows(_RELATION_FACTS_SQL.format(pairs=pairs))[0][0]
    if isinstance(document, (str, bytes)):
        document = json.loads(document)
    return [_relation(item) for item in document]


def _relation(item: dict[str, Any]) -> RelationFacts:
    return RelationFacts(
        schema=item["schema"],
        name=item["name"],
        kind=item["kind"],
        root=(item["root"][0], item["root"][1]) if item.get("root") else None,
        owned=bool(item["owned"]),
        columns=dict(item.get("columns") or {}),
        indexes=tuple(
            IndexFacts(
                index["name"],
                tuple(index.get("columns") or ()),
                bool(index["unique"]),
                bool(index["partial"]),
                bool(index["valid"]),
                index["definition"],
            )
            for index in item.get("indexes") or ()
        ),
    )


def planned_user_functions(probe: Probe, names: set[str]) -> set[str]:
    """The names among ``names`` of the application's own immutable or stable functions:
    PostgreSQL may run those while it plans a statement (constant folding, estimates), and a
    function that says it cannot act sometimes does (a NOTICE, a sequence)."""
    if not names:
        return set()
    listed = ", ".join(literal(name) for name in sorted(names))
    rows = probe.rows(
        "SELECT DISTINCT p.proname::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE p.proname IN ({listed}) AND p.provolatile <> 'v' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    )
    return {str(row[0]) for row in rows}


def ddl_event_triggers(probe: Probe) -> list[str]:
    """Enabled event triggers that a CREATE INDEX would fire (a trial index must not)."""
    rows = probe.rows(
        "SELECT evtname::text FROM pg_event_trigger WHERE evtenabled <> 'D' "
        "AND evtevent IN ('ddl_command_start', 'ddl_command_end') ORDER BY 1"
    )
    return [str(row[0]) for row in rows]


def volatile_functions(probe: Probe, names: set[str]) -> set[str]:
    """The names among ``names`` of functions that may act (volatile), in any schema."""
    if not names:
        return set()
    listed = ", ".join(literal(name) for name in sorted(names))
    rows = probe.rows(
        f"SELECT DISTINCT proname::text FROM pg_proc WHERE proname IN ({listed}) "
        "AND provolatile = 'v'"
    )
    return {str(row[0]) for row in rows}


# -- schema checks (``--dbguard-schema``, ``dbguard.check_schema``) --------------------

_USER_SCHEMAS = (
    "ns.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND ns.nspname NOT LIKE 'pg\\_toast%' AND ns.nspname NOT LIKE 'pg\\_temp%'"
)

# Foreign keys with no valid, non-partial index whose first columns are the foreign key's
# columns, in any order (an index on (b, a) serves a foreign key on (a, b)).
UNINDEXED_FOREIGN_KEYS_SQL = f"""
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

TABLES_WITHOUT_PRIMARY_KEY_SQL = f"""
SELECT c.oid::regclass::text
FROM pg_class c
JOIN pg_namespace ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {_USER_SCHEMAS}
  AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')
ORDER BY 1
"""

# An index whose key columns are the first key columns of another index of the same table and
# kind is redundant, unless it enforces something the other does not (primary key, unique).
REDUNDANT_INDEXES_SQL = f"""
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
class SchemaRows:
    unindexed_foreign_keys: list[tuple[Any, ...]]
    tables_without_primary_key: list[tuple[Any, ...]]
    redundant_indexes: list[tuple[Any, ...]]


def schema_rows(run: Any) -> SchemaRows:
    """The catalog rows the schema checks judge; ``run`` runs one query and returns its rows."""
    return SchemaRows(
        run(UNINDEXED_FOREIGN_KEYS_SQL),
        run(TABLES_WITHOUT_PRIMARY_KEY_SQL),
        run(REDUNDANT_INDEXES_SQL),
    )
