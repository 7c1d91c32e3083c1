"""Pure functions over catalog states (``observe.STATE_QUERY``): what one statement changed,
and the structural comparison of two schemas (tables, columns, types, nullability, defaults,
constraints, indexes, enum types).

A state keys tables by OID and columns by attribute number, so that a statement's changes
follow a table through a rename; ``structure`` re-keys them by name, which is what a schema is
once a downgrade has dropped and re-created things.
"""

from __future__ import annotations

import re
from typing import Any

State = dict[str, Any]


def structure(state: State) -> dict[str, Any]:
    """The schema by names, without OIDs, relfilenodes or column order."""
    return {
        "tables": {
            table["name"]: {
                "columns": {
                    column["name"]: {
                        "type": column["type"],
                        "nullable": not column["notnull"],
                        "default": column["default"],
                    }
                    for column in table["columns"].values()
                },
                "constraints": {
                    name: {
                        "type": _CONSTRAINT_KINDS.get(constraint["type"], constraint["type"]),
                        "definition": constraint["definition"],
                        "validated": constraint["validated"],
                    }
                    for name, constraint in table["constraints"].items()
                },
                "indexes": {name: index["definition"] for name, index in table["indexes"].items()},
            }
            for table in state["tables"].values()
        },
        # An enum type's labels, in order, as one value: a changed list reads as one change.
        "types": {name: ", ".join(labels) for name, labels in state.get("types", {}).items()},
    }


_CONSTRAINT_KINDS = {
    "p": "primary key",
    "u": "unique",
    "f": "foreign key",
    "c": "check",
    "x": "exclusion",
    "t": "trigger",
}


def differences(expected: dict[str, Any], actual: dict[str, Any], moment: str) -> list[str]:
    """What differs between two ``structure`` results, one line each, worded from the
    expected schema's side: "column users.region is extra after the downgrade". A missing or
    extra table is one line, not one per column."""
    lines: list[str] = []

    def compare(kind: str, old: dict[str, Any], new: dict[str, Any], name: Any) -> None:
        for key in sorted(old.keys() - new.keys()):
            lines.append(f"{kind} {name(key)} is missing after {moment}{_details(old[key])}")
        for key in sorted(new.keys() - old.keys()):
            lines.append(f"{kind} {name(key)} is extra after {moment}{_details(new[key])}")
        for key in sorted(old.keys() & new.keys()):
            if old[key] == new[key] or kind == "table":  # a table's parts are compared below
                continue
            if isinstance(old[key], dict):
                for part in sorted(old[key]):
                    if old[key][part] != new[key].get(part):
                        lines.append(
                            f"{kind} {name(key)} ({part}): {_render(old[key][part])} before, "
                            f"{_render(new[key].get(part))} after {moment}"
                        )
            else:
                lines.append(
                    f"{kind} {name(key)}: {_render(old[key])} before, "
                    f"{_render(new[key])} after {moment}"
                )

    old_tables, new_tables = expected["tables"], actual["tables"]
    compare("table", old_tables, new_tables, str)
    for table in sorted(old_tables.keys() & new_tables.keys()):
        old, new = old_tables[table], new_tables[table]
        column_name = f"{table}.{{}}".format
        part_name = f"{{}} on {table}".format
        compare("column", old["columns"], new["columns"], column_name)
        compare("constraint", old["constraints"], new["constraints"], part_name)
        compare("index", old["indexes"], new["indexes"], part_name)
    compare("type", expected["types"], actual["types"], str)
    return lines


def _details(value: Any) -> str:
    if isinstance(value, dict) and "type" in value and "nullable" in value:
        null = "NULL" if value["nullable"] else "NOT NULL"
        default = f" DEFAULT {value['default']}" if value["default"] is not None else ""
        return f": {value['type']} {null}{default}"
    if isinstance(value, dict) and "definition" in value:
        return f": {value['definition']}"
    if isinstance(value, str):
        return f": {value}"
    return ""


def _render(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def statement_changes(before: State, after: State) -> dict[str, list[dict[str, Any]]]:
    """What one statement changed in the catalog: tables created, dropped and rewritten (a new
    relfilenode), columns added, dropped, retyped or made NOT NULL, constraints added or
    validated, indexes added. Only kinds with something in them are returned."""
    changes: dict[str, list[dict[str, Any]]] = {}

    def add(change: str, **item: Any) -> None:
        changes.setdefault(change, []).append(item)

    old_tables, new_tables = before["tables"], after["tables"]
    for oid in sorted(new_tables.keys() - old_tables.keys()):
        add("created_tables", table=new_tables[oid]["name"])
    for oid in sorted(old_tables.keys() - new_tables.keys()):
        add("dropped_tables", table=old_tables[oid]["name"])
    for oid in sorted(old_tables.keys() & new_tables.keys()):
        old, new = old_tables[oid], new_tables[oid]
        name = new["name"]
        if old["relfilenode"] != new["relfilenode"] and new["relfilenode"] != 0:
            add("rewritten_tables", table=name)
        _column_changes(add, name, old, new)
        for constraint_name, constraint in sorted(new["constraints"].items()):
            previous = old["constraints"].get(constraint_name)
            if previous is None:
                add(
                    "added_constraints",
                    table=name,
                    name=constraint_name,
                    kind=_CONSTRAINT_KINDS.get(constraint["type"], constraint["type"]),
                    definition=constraint["definition"],
                    validated=constraint["validated"],
                )
            elif constraint["validated"] and not previous["validated"]:
                add("validated_constraints", table=name, name=constraint_name)
        for index_name in sorted(new["indexes"].keys() - old["indexes"].keys()):
            add(
                "added_indexes",
                table=name,
                name=index_name,
                definition=new["indexes"][index_name]["definition"],
            )
    return changes


def _column_changes(add: Any, table: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_columns, new_columns = old["columns"], new["columns"]
    for attnum in sorted(new_columns.keys() - old_columns.keys(), key=int):
        column = new_columns[attnum]
        add(
            "added_columns",
            table=table,
            column=column["name"],
            type=column["type"],
            notnull=column["notnull"],
            default=column["default"],
        )
    for attnum in sorted(old_columns.keys() - new_columns.keys(), key=int):
        add("dropped_columns", table=table, column=old_columns[attnum]["name"])
    for attnum in sorted(old_columns.keys() & new_columns.keys(), key=int):
        was, now = old_columns[attnum], new_columns[attnum]
        if was["type"] != now["type"]:
            add("type_changes", table=table, column=now["name"], old=was["type"], new=now["type"])
        if now["notnull"] and not was["notnull"]:
            add(
                "not_null_set",
                table=table,
                column=now["name"],
                proven=_proven_not_null(old["constraints"], was["name"]),
            )


def _proven_not_null(constraints: dict[str, Any], column: str) -> bool:
    """A validated CHECK constraint that says the column holds no NULL lets PostgreSQL (12 and
    later) set NOT NULL without reading the table."""
    quoted = re.escape(column) + "|" + re.escape('"' + column.replace('"', '""') + '"')
    pattern = re.compile(rf"\(+(?:{quoted})\s+IS\s+NOT\s+NULL\)")
    return any(
        constraint["type"] == "c"
        and constraint["validated"]
        and " OR " not in constraint["definition"].upper()
        and pattern.search(constraint["definition"]) is not None
        for constraint in constraints.values()
    )
