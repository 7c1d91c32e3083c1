"""The safe pattern of each finding: Alembic code (and the SQL it sends) a migration author can
paste. Pure text, from the names in the finding."""

from __future__ import annotations

import re
from typing import Any

LOCK_TIMEOUT = (
    "set a lock_timeout first, and retry the migration if it times out:\n"
    "  op.execute(\"SET LOCAL lock_timeout = '5s'\")  # first line of upgrade()\n"
    '(or once for every migration, in env.py: connection.execute(text("SET lock_timeout '
    "= '5s'\")) before context.run_migrations())"
)


def index_fix(table: str, name: str, definition: str, kind: str) -> str:
    concurrent = re.sub(
        r"^CREATE (UNIQUE )?INDEX", r"CREATE \1INDEX CONCURRENTLY", definition, count=1
    )
    if kind.startswith("ADD "):
        constraint = "PRIMARY KEY" if "PRIMARY" in kind else "UNIQUE"
        return (
            "build the index CONCURRENTLY first, then attach it to the constraint "
            "(an instant):\n"
            "  with op.get_context().autocommit_block():\n"
            f'      op.execute("{concurrent}")\n'
            f'  op.execute("ALTER TABLE {table} ADD CONSTRAINT {name} {constraint} '
            f'USING INDEX {name}")'
        )
    columns = re.search(r"USING \w+ \(([^()]*)\)$", definition)
    call = ""
    if columns and all(re.fullmatch(r"[\w$]+", column) for column in columns[1].split(", ")):
        names = ", ".join(f'"{column}"' for column in columns[1].split(", "))
        unique = ", unique=True" if kind == "CREATE UNIQUE INDEX" else ""
        call = (
            f'\n      op.create_index("{name}", "{table}", [{names}]{unique}, '
            "postgresql_concurrently=True)"
        )
    return (
        "build it CONCURRENTLY (writes go on), outside the migration's transaction:\n"
        "  with op.get_context().autocommit_block():"
        + (call or f'\n      op.execute("{concurrent}")')
        + f"\n  ({concurrent})"
    )


def not_null_fix(table: str, column: str) -> str:
    return (
        "add the column nullable, populate it, then constrain it:\n"
        f'  1. op.add_column("{table}", sa.Column("{column}", ..., nullable=True))\n'
        "  2. fill it (in batches on a large table), in its own transaction\n"
        f"  3. {_check_steps(table, column)}\n"
        "or give it a constant server_default (stored in the catalog since PostgreSQL 11: "
        "no rewrite)"
    )


def _check_steps(table: str, column: str) -> str:
    check = f"ck_{table.split('.')[-1].strip(chr(34))}_{column.strip(chr(34))}_not_null"
    return (
        f'op.create_check_constraint("{check}", "{table}", "{column} IS NOT NULL", '
        "postgresql_not_valid=True),\n"
        f'     then op.execute("ALTER TABLE {table} VALIDATE CONSTRAINT {check}") (reads the '
        "table without blocking writes),\n"
        f'     then op.alter_column("{table}", "{column}", nullable=False) (no scan: the CHECK '
        "proves it),\n"
        f'     then op.drop_constraint("{check}", "{table}", type_="check")'
    )


def set_not_null_fix(table: str, column: str) -> str:
    return (
        "prove it with a CHECK validated without blocking writes, then SET NOT NULL reads "
        "nothing (PostgreSQL 12 and later):\n"
        f"  {_check_steps(table, column)}\n"
        "  (VALIDATE in a transaction of its own: an autocommit block or the next revision)"
    )


def volatile_default_fix(table: str, column: str, default: str) -> str:
    return (
        "add the column without the default, then set the default for new rows, and fill the "
        "existing rows in batches:\n"
        f'  op.add_column("{table}", sa.Column("{column}", ..., nullable=True))\n'
        f'  op.alter_column("{table}", "{column}", server_default=sa.text("{default}"))\n'
        f"  UPDATE {table} SET {column} = {default} WHERE {column} IS NULL  -- in batches\n"
        "then SET NOT NULL the safe way (a validated CHECK first) if it must be NOT NULL"
    )


def not_valid_fix(table: str, constraint: dict[str, Any]) -> str:
    name = constraint["name"]
    if constraint["kind"] == "foreign key":
        add = f'op.create_foreign_key("{name}", "{table}", ..., postgresql_not_valid=True)'
    else:
        add = f'op.create_check_constraint("{name}", "{table}", ..., postgresql_not_valid=True)'
    return (
        "add it NOT VALID (new rows are checked at once, old ones are not read), then validate "
        "it in a transaction of its own, which lets reads and writes go on:\n"
        f"  {add}\n"
        f'  op.execute("ALTER TABLE {table} VALIDATE CONSTRAINT {name}")  # autocommit block or '
        "next revision"
    )


def drop_fix(kind: str) -> str:
    return (
        f"stop using the {kind} in the application first (remove it from the models), deploy, "
        f"keep a backup of its data, and drop it in a later release; when that is done, say so "
        f"on this line: # dbguard: allow drop_{kind}"
    )


def type_change_fix(change: dict[str, Any]) -> str:
    return (
        f"add a new {change['new']} column, keep it in sync with a trigger, fill it in batches, "
        "then swap the columns in a short transaction (types that need no rewrite: varchar(n) "
        "to a larger n or to text, numeric(p, s) to a larger p)"
    )
