"""Rows in every table before a revision runs, so that "a table holding data" is real: a NOT NULL
column added without a default fails as it would in production, SET NOT NULL reads rows, a
dropped column loses values.

Every empty user table gets three rows (one if three break a constraint), referenced tables
first, each column given a value of its type (foreign keys point at rows of the referenced
table; columns with a default keep it). A project whose data migrations need realistic rows
names a function of its own (``dbguard_migrations_seed``) that runs first; the tables it fills
are left alone. A table no row can be made for stays empty and the run says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .observe import first_line

_COLUMNS = """
SELECT c.oid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod),
       COALESCE(b.typname, t.typname), COALESCE(b.typcategory, t.typcategory),
       a.attnotnull, d.adbin IS NOT NULL OR a.attidentity <> '' OR a.attgenerated <> '',
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e
             WHERE e.enumtypid = COALESCE(b.oid, t.oid) ORDER BY e.enumsortorder)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type b ON b.oid = t.typbasetype AND t.typtype = 'd'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND c.relname <> 'alembic_version'
ORDER BY c.oid, a.attnum
"""

_FOREIGN_KEYS = """
SELECT co.conrelid::regclass::text, co.confrelid::regclass::text,
       ARRAY(SELECT a.attname::text FROM unnest(co.conkey) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum ORDER BY k.i),
       ARRAY(SELECT a.attname::text FROM unnest(co.confkey) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum ORDER BY k.i)
FROM pg_constraint co
WHERE co.contype = 'f'
ORDER BY co.conrelid, co.conname
"""

# Single-column CHECK constraints: their quoted literals are the values the column may take
# (``status IN ('draft', 'published')``).
_CHECKS = """
SELECT co.conrelid::regclass::text, a.attname, pg_get_constraintdef(co.oid)
FROM pg_constraint co
JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
WHERE co.contype = 'c' AND cardinality(co.conkey) = 1
"""
_LITERAL = re.compile(r"'((?:[^']|'')*)'")

ROWS = 3


@dataclass
class _Column:
    name: str
    type: str
    base: str  # the type's name (a domain's base type)
    category: str  # pg_type.typcategory
    notnull: bool
    has_default: bool
    labels: list[str]  # an enum's labels, or the literals of a CHECK on the column


@dataclass
class _Table:
    name: str
    columns: list[_Column] = field(default_factory=list)
    # (local columns, referenced table, referenced columns)
    references: list[tuple[list[str], str, list[str]]] = field(default_factory=list)


SeedHook = Callable[[Connection, str], None]


def seed(connection: Connection, revision: str, hook: SeedHook | None) -> list[str]:
    """Fill the empty tables (each in a transaction of its own, committed); return a note for
    each table left empty."""
    notes = []
    if hook is not None:
        try:
            hook(connection, revision)
            connection.commit()
        except Exception as error:  # noqa: BLE001 (the user's seed function may raise anything)
            connection.rollback()
            notes.append(f"the seed function failed: {type(error).__name__}: {first_line(error)}")
    tables = _tables(connection)
    for table in _ordered(tables):
        if not is_empty(connection, table.name):
            continue
        problem = _fill(connection, table)
        if problem is not None:
            notes.append(f"{table.name}: left empty ({problem})")
    connection.commit()
    return notes


def is_empty(connection: Connection, table: str) -> bool:
    return not connection.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar()


def tables_with_rows(connection: Connection) -> list[str]:
    return sorted(table for table in _tables(connection) if not is_empty(connection, table))


def _tables(connection: Connection) -> dict[str, _Table]:
    tables: dict[str, _Table] = {}
    for row in connection.execute(text(_COLUMNS)):
        table = tables.setdefault(row[0], _Table(row[0]))
        table.columns.append(_Column(row[1], row[2], row[3], row[4], row[5], row[6], row[7]))
    for table_name, column_name, definition in connection.execute(text(_CHECKS)):
        literals = [value.replace("''", "'") for value in _LITERAL.findall(definition)]
        for column in tables[table_name].columns if table_name in tables else ():
            if column.name == column_name and literals and not column.labels:
                column.labels = literals
    for local, referenced, columns, referenced_columns in connection.execute(text(_FOREIGN_KEYS)):
        if local in tables and referenced in tables:
            tables[local].references.append((list(columns), referenced, list(referenced_columns)))
    return tables


def _ordered(tables: dict[str, _Table]) -> list[_Table]:
    """Referenced tables before the tables that reference them (a cycle is broken anywhere:
    its foreign keys get NULL where they may, or the table stays empty)."""
    done: dict[str, _Table] = {}
    visiting: set[str] = set()

    def visit(table: _Table) -> None:
        if table.name in done or table.name in visiting:
            return
        visiting.add(table.name)
        for _, referenced, _ in table.references:
            visit(tables[referenced])
        visiting.discard(table.name)
        done[table.name] = table

    for name in sorted(tables):
        visit(tables[name])
    return list(done.values())


def _fill(connection: Connection, table: _Table) -> str | None:
    """Insert ROWS rows, else one, else one with every nullable column NULL; the first error
    if none could be inserted."""
    first_error = None
    for rows, nullable_too in ((ROWS, True), (1, True), (1, False)):
        try:
            statement, parameters = _insert(connection, table, rows, nullable_too)
        except _CannotSeed as reason:
            return str(reason)
        try:
            connection.execute(text(statement), parameters)
            connection.commit()
            return None
        except Exception as error:  # noqa: BLE001 (the user's seed rows may fail in any driver's way)
            connection.rollback()
            first_error = first_error or first_line(error)
    return first_error


class _CannotSeed(Exception):
    pass


def _insert(
    connection: Connection, table: _Table, rows: int, nullable_too: bool
) -> tuple[str, dict[str, Any]]:
    quote = connection.dialect.identifier_preparer.quote
    values: dict[str, list[str]] = {}  # column -> one SQL expression per row
    parameters: dict[str, Any] = {}
    for columns, referenced, referenced_columns in table.references:
        keys = connection.execute(
            text(
                f"SELECT {', '.join(map(quote, referenced_columns))} FROM {referenced} "
                f"ORDER BY 1 LIMIT {rows}"
            )
        ).all()
        for position, name in enumerate(columns):
            if name in values:
                continue
            expressions = []
            for row in range(rows):
                if keys:
                    parameter = f"p{len(parameters)}"
                    parameters[parameter] = keys[row % len(keys)][position]
                    expressions.append(f":{parameter}")
                else:
                    expressions.append("NULL")
            values[name] = expressions
    for column in table.columns:
        if column.name in values or column.has_default:
            continue
        if not column.notnull and not nullable_too:
            continue
        expressions = []
        for row in range(1, rows + 1):
            expression = _value(column, row)
            if expression is None:
                if column.notnull:
                    raise _CannotSeed(f"no value of type {column.type} for column {column.name}")
                expression = "NULL"
            expressions.append(expression)
        values[column.name] = expressions
    if not values:
        return f"INSERT INTO {table.name} DEFAULT VALUES", {}
    columns_sent = list(values)
    tuples = [
        "(" + ", ".join(values[name][row] for name in columns_sent) + ")" for row in range(rows)
    ]
    statement = (
        f"INSERT INTO {table.name} ({', '.join(map(quote, columns_sent))}) "
        f"VALUES {', '.join(tuples)}"
    )
    return statement, parameters


def _value(column: _Column, row: int) -> str | None:
    """A SQL expression of the column's type for row 1, 2, 3 (distinct where the type allows,
    for unique indexes); None when no value is known for the type."""
    by_name = {
        "uuid": f"md5('seed {row}')::uuid",
        "json": "'{}'::json",
        "jsonb": "'{}'::jsonb",
        "bytea": f"'\\x0{row}'::bytea",
        "bool": "true" if row % 2 else "false",
        "inet": f"'10.0.0.{row}'::inet",
        "cidr": f"'10.0.{row}.0/24'::cidr",
        "xml": "'<seed/>'::xml",
        "tsvector": f"'seed{row}'::tsvector",
        "money": f"{row}::money",
        "interval": f"interval '{row} days'",
    }
    if column.base in by_name:
        return f"CAST({by_name[column.base]} AS {column.type})"
    if column.labels:
        label = column.labels[(row - 1) % len(column.labels)].replace("'", "''")
        label = label.replace(":", "\\:")  # text() would read ":name" as a parameter
        return f"CAST('{label}' AS {column.type})"
    by_category = {
        "N": f"{row}",
        "S": f"'seed {row}'",
        "D": f"now() - interval '{row} days'",
        "A": "'{}'",
        "T": f"interval '{row} days'",
        "V": "B'1'",
    }
    literal = by_category.get(column.category)
    if literal is None:
        return None
    return f"CAST({literal} AS {column.type})"
