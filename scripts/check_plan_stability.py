"""Does a case's ``indexed`` plan depend on the database's history? Takes the plan's structure
(node types, relations, indexes, conditions, join types; no costs, no rows) for every case of the
corpus in several states of the same database, and reports the cases whose structure changes.

    python scripts/check_plan_stability.py                       # 15, 16 and 18, every case
    python scripts/check_plan_stability.py --versions 16 --cases fk_join_unindexed
    python scripts/check_plan_stability.py --set enable_bitmapscan=off   # try a profile change

The states, one after the other in the same database:

1. ``fresh``: schema and seed, never analyzed (a test's database);
2. ``trial_index``: an index created and rolled back in a savepoint on each table (the plugin's
   own trial indexes do this; CREATE INDEX updates the table's relpages and reltuples in place);
3. ``analyzed``: ANALYZE;
4. ``stale``: every row deleted, a seed of 3,000 rows (main table) inserted and ANALYZEd, deleted
   again and the small seed inserted back (statistics of a bigger past, dead tuples);
5. ``vacuumed``: VACUUM ANALYZE;
6. ``bloated``: 20 rounds of delete-everything-and-reseed (pages grow, statistics stay).

Two views of a structure: ``raw``, and ``normalized`` the way the plugin intends to compare plans
(a Bitmap Heap Scan over one Bitmap Index Scan reads as an Index Scan of that index; an Index
Only Scan as an Index Scan; the two children of an inner Nested Loop are unordered, and an Index
Cond of its inner side that references the outer side's aliases is the join's condition).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from plan_cases import Case
from record_plans import (
    PG15_URL,
    case_database,
    generic_plan,
    rolled_back,
    scratch_database,
    selected_cases,
    server,
    server_version,
)

from pytest_dbguard.probe.profile import INDEXED, settings_for

STALE_ROWS = 3000
BLOAT_ROUNDS = 20

# Keys of a plan node that make its structure; costs, rows, widths, outputs and flags are left out.
STRUCTURE_KEYS = (
    "Node Type",
    "Join Type",
    "Strategy",
    "Partial Mode",
    "Operation",
    "Schema",
    "Relation Name",
    "Alias",
    "CTE Name",
    "Index Name",
    "Scan Direction",
    "Parent Relationship",
    "Subplan Name",
    "Index Cond",
    "Recheck Cond",
    "Filter",
    "Join Filter",
    "Hash Cond",
    "Merge Cond",
    "One-Time Filter",
    "TID Cond",
    "Sort Key",
    "Presorted Key",
    "Group Key",
    "Subplans Removed",
    "Conflict Resolution",
    "Conflict Arbiter Indexes",
)

TABLES = """
SELECT c.oid::regclass::text
FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
WHERE c.relkind = 'r' AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
  AND ns.nspname NOT LIKE 'pg\\_%'
ORDER BY 1
"""
FIRST_COLUMN = """
SELECT quote_ident(attname) FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1
"""


# --- Structures ----------------------------------------------------------------------------


def structure(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan without its volatile figures."""
    node = {key: plan[key] for key in STRUCTURE_KEYS if key in plan}
    children = [structure(child) for child in plan.get("Plans", ())]
    if children:
        node["Plans"] = children
    return node


def normalized(node: dict[str, Any], join_filters: bool = False) -> dict[str, Any]:
    """A structure read the way the plugin intends to compare plans (see the module's text);
    with ``join_filters``, the Join Filter of an inner Nested Loop is its join condition too."""
    node = dict(node)
    children = [normalized(child, join_filters) for child in node.pop("Plans", ())]
    kind = node["Node Type"]
    if kind == "Bitmap Heap Scan" and len(children) == 1:
        (bitmap,) = children
        if bitmap["Node Type"] == "Bitmap Index Scan":
            node.pop("Recheck Cond", None)
            node["Node Type"] = "Index Scan"
            node["Index Name"] = bitmap["Index Name"]
            node["Index Cond"] = bitmap["Index Cond"]
            children = []
    if kind == "Index Only Scan":
        node["Node Type"] = "Index Scan"
    if node.get("Scan Direction") == "Forward":
        del node["Scan Direction"]
    if kind == "Nested Loop" and node.get("Join Type") == "Inner" and len(children) == 2:
        outer, inner = children
        outer_aliases = set(aliases(outer))
        moved: list[str] = []
        inner = without_outer_references(inner, outer_aliases, moved)
        if join_filters and "Join Filter" in node:
            moved.extend(conjuncts(node.pop("Join Filter")))
        if moved:
            node["Join Cond"] = sorted(canonical_condition(part) for part in moved)
        for child in (outer, inner):
            child.pop("Parent Relationship", None)
        children = sorted([outer, inner], key=lambda child: json.dumps(child, sort_keys=True))
    if children:
        node["Plans"] = children
    return node


def aliases(node: dict[str, Any]) -> Iterator[str]:
    if "Alias" in node:
        yield node["Alias"]
    for child in node.get("Plans", ()):
        yield from aliases(child)


def without_outer_references(
    node: dict[str, Any], outer_aliases: set[str], moved: list[str]
) -> dict[str, Any]:
    """The inner side with the parts of its Index Conds that reference the outer side removed
    (collected in ``moved``)."""
    node = dict(node)
    if "Index Cond" in node:
        kept: list[str] = []
        for part in conjuncts(node["Index Cond"]):
            (moved if references(part, outer_aliases) else kept).append(part)
        if kept:
            node["Index Cond"] = " AND ".join(kept)
        else:
            del node["Index Cond"]
    if "Plans" in node:
        node["Plans"] = [
            without_outer_references(child, outer_aliases, moved) for child in node["Plans"]
        ]
    return node


def conjuncts(condition: str) -> list[str]:
    """The top-level AND parts of a condition as EXPLAIN prints it, each in parentheses."""
    text = condition.strip()
    while text.startswith("(") and matching_parenthesis(text, 0) == len(text) - 1:
        inner = text[1:-1].strip()
        if not top_level_split(inner, " AND "):
            break
        text = inner
    parts = top_level_split(text, " AND ") or [text]
    return [part if part.startswith("(") else f"({part})" for part in parts]


def matching_parenthesis(text: str, start: int) -> int:
    depth, quoted = 0, False
    for position in range(start, len(text)):
        character = text[position]
        if character == "'":
            quoted = not quoted
        elif not quoted and character == "(":
            depth += 1
        elif not quoted and character == ")":
            depth -= 1
            if depth == 0:
                return position
    return -1


def top_level_split(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` outside parentheses and quotes; [] when it holds none."""
    parts, depth, quoted, start, position = [], 0, False, 0, 0
    while position < len(text):
        character = text[position]
        if character == "'":
            quoted = not quoted
        elif not quoted and character == "(":
            depth += 1
        elif not quoted and character == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, position):
            parts.append(text[start:position].strip())
            position += len(separator)
            start = position
            continue
        position += 1
    if not parts:
        return []
    parts.append(text[start:].strip())
    return parts


def references(condition: str, names: set[str]) -> bool:
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        for form in (name, quoted):
            if re.search(rf"(?<![\w\"]){re.escape(form)}\.", condition):
                return True
    return False


EQUALITY = re.compile(r"^\(([\w.\"]+) = ([\w.\"]+)\)$")


def canonical_condition(condition: str) -> str:
    """``(a = b)`` and ``(b = a)`` read alike."""
    match = EQUALITY.match(condition)
    if match is None:
        return condition
    left, right = sorted(match.groups())
    return f"({left} = {right})"


def render(node: dict[str, Any], depth: int = 0) -> list[str]:
    """A structure as indented lines, one node per line."""
    words = [str(node["Node Type"])]
    for key in ("Join Type", "Strategy", "Operation", "Scan Direction"):
        if key in node:
            words.append(f"[{node[key]}]")
    if "Relation Name" in node:
        words.append(f"on {node.get('Schema', '')}.{node['Relation Name']} {node.get('Alias', '')}")
    elif "Alias" in node:
        words.append(f"on {node['Alias']}")
    if "Index Name" in node:
        words.append(f"using {node['Index Name']}")
    skipped = {"Node Type", "Join Type", "Strategy", "Operation", "Scan Direction", "Schema"}
    skipped |= {"Relation Name", "Alias", "Index Name", "Plans"}
    details = [f"{key}: {value}" for key, value in node.items() if key not in skipped]
    line = "  " * depth + " ".join(words) + ("  | " + "; ".join(details) if details else "")
    lines = [line]
    for child in node.get("Plans", ()):
        lines.extend(render(child, depth + 1))
    return lines


# --- States --------------------------------------------------------------------------------


def user_tables(connection: psycopg.Connection[Any]) -> list[str]:
    return [row[0] for row in connection.execute(TABLES).fetchall()]


def reseed(connection: psycopg.Connection[Any], case: Case, rows: int, rounds: int = 1) -> None:
    """Delete every row (foreign keys not checked) and insert the seed again, ``rounds`` times
    (each round a transaction of its own)."""
    deletes = "".join(f"DELETE FROM {table};" for table in user_tables(connection))
    seed = case.seed.replace("{rows}", str(rows))
    connection.execute("SET session_replication_role = replica")
    for _ in range(rounds):
        connection.execute(deletes + seed)
    connection.execute("RESET session_replication_role")


def trial_index(connection: psycopg.Connection[Any], _case: Case) -> None:
    for table in user_tables(connection):
        row = connection.execute(FIRST_COLUMN, (table,)).fetchone()
        assert row is not None
        connection.execute("BEGIN")
        connection.execute("SAVEPOINT trial")
        connection.execute(f"CREATE INDEX ON {table} ({row[0]})")
        connection.execute("ROLLBACK TO SAVEPOINT trial")
        connection.execute("ROLLBACK")


def analyzed(connection: psycopg.Connection[Any], _case: Case) -> None:
    connection.execute("ANALYZE")


def stale(connection: psycopg.Connection[Any], case: Case) -> None:
    reseed(connection, case, STALE_ROWS)
    connection.execute("ANALYZE")
    reseed(connection, case, case.rows)


def vacuumed(connection: psycopg.Connection[Any], _case: Case) -> None:
    connection.execute("VACUUM ANALYZE")


def bloated(connection: psycopg.Connection[Any], case: Case) -> None:
    reseed(connection, case, case.rows, rounds=BLOAT_ROUNDS)


State = Callable[[psycopg.Connection[Any], Case], None]
STATES: tuple[tuple[str, State | None], ...] = (
    ("fresh", None),
    ("trial_index", trial_index),
    ("analyzed", analyzed),
    ("stale", stale),
    ("vacuumed", vacuumed),
    ("bloated", bloated),
)


def structures_by_state(
    url: str, case: Case, settings: dict[str, str]
) -> dict[str, dict[str, Any]]:
    found = {}
    with case_database(url, case) as connection:
        for name, change in STATES:
            if change is not None:
                change(connection, case)
            with rolled_back(connection, settings):
                found[name] = structure(generic_plan(connection, case.statement))
    return found


# --- Report --------------------------------------------------------------------------------


def groups(by_state: dict[str, dict[str, Any]]) -> list[tuple[list[str], dict[str, Any]]]:
    """The distinct structures, each with the states that produced it, in state order."""
    found: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for state, value in by_state.items():
        key = json.dumps(value, sort_keys=True)
        found.setdefault(key, ([], value))[0].append(state)
    return list(found.values())


def report(case: Case, view: str, distinct: list[tuple[list[str], dict[str, Any]]]) -> None:
    print(f"\n### {case.name} ({view}): {len(distinct)} structures")
    for states, value in distinct:
        print(f"  states: {', '.join(states)}")
        for line in render(value):
            print("    " + line)


View = Callable[[dict[str, Any]], dict[str, Any]]
VIEWS: tuple[tuple[str, View], ...] = (
    ("raw", lambda value: value),
    ("normalized", normalized),
    ("normalized, join filters too", lambda value: normalized(value, join_filters=True)),
)


def check_version(
    url: str, major: int, cases: Sequence[Case], overrides: dict[str, str], shown: set[str]
) -> dict[str, list[str]]:
    """The names of the unstable cases in each view; prints the structures of the views in
    ``shown``."""
    settings = {**settings_for(INDEXED, major), **overrides}
    unstable: dict[str, list[str]] = {name: [] for name, _ in VIEWS}
    with scratch_database(url) as database:
        for case in cases:
            by_state = structures_by_state(database, case, settings)
            for name, view in VIEWS:
                distinct = groups({state: view(value) for state, value in by_state.items()})
                if len(distinct) > 1:
                    unstable[name].append(case.name)
                    if name in shown:
                        report(case, name, distinct)
    return unstable


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default="15,16,18", help="majors to check (15,16,18)")
    parser.add_argument("--pg15", default=PG15_URL, help="URL of the PostgreSQL 15 server")
    parser.add_argument("--cases", help="comma-separated case names (default: every case)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a setting of the INDEXED profile (repeatable)",
    )
    parser.add_argument(
        "--show",
        default="normalized",
        help="views whose unstable structures are printed: "
        + ", ".join(name for name, _ in VIEWS)
        + " (comma-separated; default: normalized)",
    )
    arguments = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in arguments.set)
    cases = selected_cases(arguments.cases)
    shown = set(arguments.show.split(","))
    summary: dict[int, dict[str, list[str]]] = {}
    for major in (int(part) for part in arguments.versions.split(",")):
        with server(major, arguments.pg15) as url:
            version = server_version(url)
            if version // 10000 != major:
                raise SystemExit(f"asked for PostgreSQL {major}, the server is {version}")
            print(f"\n## PostgreSQL {version}, INDEXED profile {overrides or ''}")
            summary[major] = check_version(url, major, cases, overrides, shown)
    print(f"\n## Summary: of {len(cases)} cases, those whose structure changes between states")
    for major, unstable in summary.items():
        print(f"PostgreSQL {major}:")
        for view, names in unstable.items():
            print(f"  {view} ({len(names)}): {', '.join(names) or '-'}")
    return 1 if any(unstable["normalized"] for unstable in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
