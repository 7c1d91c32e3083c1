"""SQL identifiers as a user pastes them: quoted when PostgreSQL needs it."""

from __future__ import annotations

import re

_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")

# PostgreSQL's reserved key words (appendix C of its documentation: "reserved" and "reserved
# (can be function or type)"): as a table or column name they must be quoted.
RESERVED = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user
    default deferrable desc distinct do else end except false fetch for foreign freeze from
    full grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on only
    or order outer overlaps placing primary references returning right select session_user
    similar some symmetric system_user table tablesample then to trailing true union unique
    user using variadic verbose when where window with
    """.split()  # noqa: SIM905
)


def quote(name: str) -> str:
    """``name`` as SQL needs it: ``items``, ``"user"``, ``"Order Items"``."""
    if _PLAIN.match(name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str, current_schema: str | None = None) -> str:
    """A relation's name, schema-qualified unless it lives in ``current_schema``."""
    if not schema or schema == current_schema:
        return quote(name)
    return f"{quote(schema)}.{quote(name)}"
