"""The differential harness: run each case file with and without pytest-dbguard, each on a fresh
database, and say what differs.

A case is one file in ``cases/`` with a module-level ``SAFETY`` dict (a literal, read with
``ast.literal_eval``; see README.md for its keys). Cases that run the same way (plugin options
per step, common arguments, environment) share one pair of inner pytest sessions, on all their
drivers at once: each case gets its own database per driver, so a group costs two pytest
processes, whatever its size.
The two sessions of a pair run at the same time, in subprocesses (asyncpg and SQLAlchemy do not
survive being imported twice in one process), under the same umask.

After the sessions the harness reads, for each case: the outcome of every test per step, what
the tests observed, the database (rows, sequences, indexes, constraints, statistics), and the
files in the run directory. Nothing here imports pytest-dbguard: the suite judges the plugin
from the outside only, so it runs unchanged against any version of it.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

HERE = Path(__file__).parent
CASES = HERE / "cases"
INNER_CONFTEST = HERE / "inner_conftest.py"

POSTGRESQL_DRIVERS = ("psycopg", "psycopg_async", "psycopg2", "asyncpg")
SCHEMES = {
    "psycopg": "postgresql+psycopg",
    "psycopg_async": "postgresql+psycopg_async",
    "psycopg2": "postgresql+psycopg2",
    "asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite",
    "mysql": "mysql+pymysql",
}
UMASK = 0o022
STEP_TIMEOUT = 240  # seconds for one inner session
MYSQL_URL_VARIABLE = "DBGUARD_SAFETY_MYSQL_URL"
MYSQL_DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/"
STRICT_VARIABLE = "DBGUARD_SAFETY_STRICT"  # 1: ignore the cases' known differences

# Both runs: no cache files, no plugins that only cost start-up time, no random order.
COMMON_ARGS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
    "-p",
    "no:pytest_postgresql",
    "-p",
    "no:hypothesispytest",
    "-q",
    "-rN",
)
INNER_INI = """[pytest]
# Strict suites turn warnings into errors: a warning the plugin adds to a clean test is a
# changed outcome there.
filterwarnings =
    error
"""


# -- cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    plugin_args: tuple[str, ...]  # the "with" run's options (the "without" run gets -p no:dbguard)
    env: tuple[tuple[str, str], ...] = ()  # both runs, this step only

    def describe(self) -> str:
        options = " ".join(self.plugin_args) or "default options"
        extra = " ".join(f"{name}={value}" for name, value in self.env)
        return f"{options}{', ' + extra if extra else ''}"


@dataclass(frozen=True, repr=False)
class Case:
    name: str
    path: Path
    drivers: tuple[str, ...]
    steps: tuple[Step, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    seed: Any  # SQL, or a dict of SQL by dialect
    secrets: tuple[str, ...]
    differs: dict[str, str]  # driver (or "*") -> the known defect that makes it differ
    alone: bool

    def __repr__(self) -> str:
        return f"<case {self.name}>"

    @property
    def module(self) -> str:
        return f"test_{self.name}.py"

    def seed_for(self, dialect: str) -> str:
        if isinstance(self.seed, dict):
            return str(self.seed.get(dialect, ""))
        return str(self.seed or "") if dialect == "postgresql" else ""

    def known_difference(self, driver: str) -> str | None:
        if os.environ.get(STRICT_VARIABLE) == "1":
            return None
        return self.differs.get(driver) or self.differs.get("*")


_KEYS = {
    "drivers",
    "steps",
    "args",
    "env",
    "seed",
    "secrets",
    "differs",
    "alone",
    "about",
}


def read_case(path: Path) -> Case:
    """The case's SAFETY dict, read without importing the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    spec: dict[str, Any] | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "SAFETY" for target in node.targets
        ):
            spec = ast.literal_eval(node.value)
    if spec is None:
        raise ValueError(f"{path.name}: no module-level SAFETY = {{...}}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown SAFETY keys {sorted(unknown)}")
    steps = []
    for step in spec.get("steps", [[]]):
        if isinstance(step, dict):
            steps.append(Step(tuple(step.get("args", ())), tuple(sorted(step["env"].items()))))
        else:
            steps.append(Step(tuple(step)))
    return Case(
        name=path.stem,
        path=path,
        drivers=tuple(spec.get("drivers", POSTGRESQL_DRIVERS)),
        steps=tuple(steps),
        args=tuple(spec.get("args", ())),
        env=tuple(sorted(spec.get("env", {}).items())),
        seed=spec.get("seed", ""),
        secrets=tuple(spec.get("secrets", ())),
        differs=dict(spec.get("differs", {})),
        alone=bool(spec.get("alone", False)),
    )


def load_cases(directory: Path = CASES) -> list[Case]:
    return [read_case(path) for path in sorted(directory.glob("*.py")) if path.stem[0] != "_"]


@dataclass(frozen=True)
class GroupKey:
    """Cases with the same key run in one pair of inner sessions, on all their drivers."""

    steps: tuple[Step, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    alone: str  # "case/driver" when the case needs a session of its own, for each driver

    @property
    def digest(self) -> str:
        return hashlib.sha1(repr(self).encode()).hexdigest()[:12]


def group_key(case: Case, driver: str) -> GroupKey:
    alone = f"{case.name}/{driver}" if case.alone else ""
    return GroupKey(case.steps, case.args, case.env, alone)


Member = tuple[Case, str]  # a case on one driver


# -- databases ----------------------------------------------------------------------------------


def dialect_of(driver: str) -> str:
    return {"sqlite": "sqlite", "mysql": "mysql"}.get(driver, "postgresql")


class Databases:
    """Fresh databases on the test servers: PostgreSQL (DBGUARD_TEST_DATABASE_URL), MySQL
    (DBGUARD_SAFETY_MYSQL_URL, MariaDB on 127.0.0.1:3306 by default) and SQLite files."""

    def __init__(self, postgresql_url: str, scratch: Path) -> None:
        self.postgresql = make_url(postgresql_url).set(drivername="postgresql")
        self.mysql = make_url(os.environ.get(MYSQL_URL_VARIABLE, MYSQL_DEFAULT_URL))
        self.scratch = scratch

    def mysql_problem(self) -> str | None:
        """Why MySQL cannot be used here, or None."""
        try:
            self._mysql_admin().close()
        except Exception as error:  # noqa: BLE001 (any driver's error: MySQL is then not used)
            return f"no MySQL server at {self.mysql.render_as_string()}: {error}"
        return None

    def create(self, dialect: str) -> URL:
        name = f"dbguard_safety_{uuid.uuid4().hex[:12]}"
        if dialect == "postgresql":
            with self._postgresql_admin() as admin:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            return self.postgresql.set(database=name)
        if dialect == "mysql":
            admin = self._mysql_admin()
            try:
                admin.cursor().execute(f"CREATE DATABASE `{name}`")
            finally:
                admin.close()
            return self.mysql.set(database=name)
        return URL.create("sqlite", database=str(self.scratch / f"{name}.sqlite"))

    def seed(self, url: URL, sql: str) -> None:
        if not sql.strip():
            return
        dialect = url.get_backend_name()
        if dialect == "postgresql":
            import psycopg

            with psycopg.connect(_libpq(url), autocommit=True) as conn:
                conn.execute(sql.encode())  # bytes: no parameters, one simple-query script
        elif dialect == "mysql":
            from pymysql.constants import CLIENT

            mysql = self._mysql_admin(database=url.database, flags=CLIENT.MULTI_STATEMENTS)
            try:
                cursor = mysql.cursor()
                cursor.execute(sql)
                while cursor.nextset():
                    pass
                mysql.commit()
            finally:
                mysql.close()
        else:
            import sqlite3

            sqlite = sqlite3.connect(str(url.database))
            try:
                sqlite.executescript(sql)
            finally:
                sqlite.close()

    def dump_and_drop(self, url: URL) -> dict[str, Any]:
        dialect = url.get_backend_name()
        if dialect == "postgresql":
            return self._postgresql_dump_and_drop(url)
        if dialect == "mysql":
            return self._mysql_dump_and_drop(url)
        return _sqlite_dump(Path(str(url.database)))

    @contextlib.contextmanager
    def _postgresql_admin(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(_libpq(self.postgresql), autocommit=True) as conn:
            yield conn

    def _mysql_admin(self, database: str | None = None, flags: int = 0) -> Any:
        import pymysql

        return pymysql.connect(
            host=self.mysql.host or "127.0.0.1",
            port=self.mysql.port or 3306,
            user=self.mysql.username or "root",
            password=self.mysql.password or "",
            database=database,
            client_flag=flags,
            connect_timeout=5,
        )

    def _postgresql_dump_and_drop(self, url: URL) -> dict[str, Any]:
        import psycopg

        name = url.database
        with self._postgresql_admin() as admin:
            _wait_for_no_sessions(admin, str(name))
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            dump = postgresql_dump(conn)
            for (gid,) in conn.execute(
                "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
            ).fetchall():
                conn.execute(f"ROLLBACK PREPARED '{gid}'".encode())
        with self._postgresql_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return dump

    def _mysql_dump_and_drop(self, url: URL) -> dict[str, Any]:
        conn = self._mysql_admin(database=url.database)
        try:
            dump = _mysql_dump(conn, str(url.database))
            conn.cursor().execute(f"DROP DATABASE `{url.database}`")
        finally:
            conn.close()
        return dump


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _wait_for_no_sessions(admin: Any, name: str, timeout: float = 10.0) -> None:
    """The inner sessions' backends flush their statistics when they exit: wait for them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
        if row[0] == 0:
            return
        time.sleep(0.05)


_USER_NAMESPACE = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
)
_ROW_LIMIT = 60  # tables up to this many rows are dumped row by row (a readable diff)
# Statistics that autovacuum also changes: not compared for a table it visited in either run.
AUTOVACUUM_SENSITIVE = (
    "reltuples",
    "relpages",
    "n_live_tup",
    "n_dead_tup",
    "n_mod_since_analyze",
    "autoanalyze_count",
    "autovacuum_count",
)


def postgresql_dump(conn: Any) -> dict[str, Any]:
    """What a later test could see of the database: contents, schema, statistics."""
    dump: dict[str, Any] = {}
    relations = conn.execute(
        "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind "
        f"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NAMESPACE} "
        "AND c.relkind IN ('r', 'm', 'S') ORDER BY 2"
    ).fetchall()
    rows: dict[str, Any] = {}
    sequences: dict[str, Any] = {}
    for _oid, name, kind in relations:
        if kind == "S":
            last_value, is_called = conn.execute(
                f"SELECT last_value, is_called FROM {name}".encode()
            ).fetchone()
            sequences[name] = f"last_value={last_value} is_called={is_called}"
            continue
        count, digest = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
            f"FROM {name} AS t".encode()
        ).fetchone()
        if count <= _ROW_LIMIT:
            rows[name] = [
                row[0]
                for row in conn.execute(
                    f"SELECT t::text FROM {name} AS t ORDER BY 1".encode()
                ).fetchall()
            ]
        else:
            rows[name] = f"{count} rows, md5 {digest}"
    dump["rows"] = rows
    dump["sequences"] = sequences
    dump["indexes"] = {
        name: definition
        for name, definition in conn.execute(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
            "pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NAMESPACE}"
        ).fetchall()
    }
    dump["constraints"] = sorted(
        f"{table} {name}: {definition}"
        for table, name, definition in conn.execute(
            "SELECT co.conrelid::regclass::text, co.conname, pg_get_constraintdef(co.oid) "
            "FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace "
            f"WHERE {_USER_NAMESPACE}"
        ).fetchall()
    )
    dump["views"] = {
        name: definition
        for name, definition in conn.execute(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
            "pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND {_USER_NAMESPACE}"
        ).fetchall()
    }
    conn.execute("SELECT pg_stat_clear_snapshot()")
    statistics: dict[str, dict[str, Any]] = {}
    columns = (
        "reltuples",
        "relpages",
        "seq_scan",
        "idx_scan",
        "n_tup_ins",
        "n_tup_upd",
        "n_tup_del",
        "n_live_tup",
        "n_dead_tup",
        "n_mod_since_analyze",
        "analyze_count",
        "autoanalyze_count",
        "vacuum_count",
        "autovacuum_count",
    )
    for record in conn.execute(
        "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname), c.reltuples, "
        "c.relpages, s.seq_scan, s.idx_scan, s.n_tup_ins, s.n_tup_upd, s.n_tup_del, "
        "s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.analyze_count, "
        "s.autoanalyze_count, s.vacuum_count, s.autovacuum_count "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.schemaname !~ '^pg_temp' ORDER BY 1"
    ).fetchall():
        statistics[record[0]] = dict(zip(columns, record[1:], strict=True))
    for name, table, reltuples, relpages in conn.execute(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
        "quote_ident(tn.nspname) || '.' || quote_ident(t.relname), "
        "c.reltuples, c.relpages FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NAMESPACE}"
    ).fetchall():
        statistics[f"index {name}"] = {
            "table": table,
            "reltuples": reltuples,
            "relpages": relpages,
        }
    dump["statistics"] = statistics
    dump["prepared transactions"] = [
        row[0]
        for row in conn.execute(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY 1"
        ).fetchall()
    ]
    dump["database settings"] = [
        row[0]
        for row in conn.execute(
            "SELECT array_to_string(setconfig, ', ') FROM pg_db_role_setting WHERE setdatabase = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1"
        ).fetchall()
    ]
    dump["large objects"] = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[
        0
    ]
    return dump


def _sqlite_dump(path: Path) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(str(path))
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
        ]
        rows = {
            table: sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
            for table in tables
        }
        schema = sorted(
            str(row[0])
            for row in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
        )
    finally:
        conn.close()
    return {"rows": rows, "schema": schema}


def _mysql_dump(conn: Any, database: str) -> dict[str, Any]:
    cursor = conn.cursor()
    cursor.execute(
        "SELECT table_name, auto_increment FROM information_schema.tables "
        "WHERE table_schema = %s ORDER BY table_name",
        (database,),
    )
    tables = cursor.fetchall()
    rows = {}
    for table, _ in tables:
        cursor.execute(f"SELECT * FROM `{table}`")
        rows[table] = sorted(repr(row) for row in cursor.fetchall())
    cursor.execute(
        "SELECT table_name, index_name, group_concat(column_name ORDER BY seq_in_index) "
        "FROM information_schema.statistics WHERE table_schema = %s "
        "GROUP BY table_name, index_name ORDER BY 1, 2",
        (database,),
    )
    indexes = [" ".join(map(str, row)) for row in cursor.fetchall()]
    return {
        "rows": rows,
        "auto_increment": {table: value for table, value in tables},
        "indexes": indexes,
    }


# -- running a group ----------------------------------------------------------------------------


@dataclass
class StepResult:
    exit_code: int
    output: str  # the session's terminal output (stdout and stderr)
    outcomes: dict[str, dict[str, str]]  # test id -> {"outcome": ..., "message": ...}
    observations: dict[str, dict[str, Any]]  # test id -> key -> value
    files: dict[str, list[Any]]  # run directory after the step: path -> [sha1, mode]
    seconds: float
    drivers: dict[str, str | None]  # test id -> the driver it ran on (None: no database)


@dataclass
class SideResult:
    steps: list[StepResult] = field(default_factory=list)
    files_before: dict[str, list[Any]] = field(default_factory=dict)
    databases: dict[str, Any] = field(default_factory=dict)  # "case/driver" -> dump
    output_text: str = ""  # every step's output and every file written, for secrets


def run_group(
    key: GroupKey, members: list[Member], databases: Databases, workdir: Path
) -> dict[str, Any]:
    """Run the group's cases with and without the plugin; a JSON-able result."""
    sides = ("without", "with")
    names = [(side, case, driver) for side in sides for case, driver in members]
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda job: databases.create(dialect_of(job[2])), names))
    urls: dict[str, dict[str, URL]] = {side: {} for side in sides}
    for (side, case, driver), url in zip(names, created, strict=True):
        urls[side][f"{case.name}/{driver}"] = url
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(
                pool.map(
                    lambda job: databases.seed(job[0], job[1]),
                    [
                        (
                            urls[side][f"{case.name}/{driver}"],
                            case.seed_for(dialect_of(driver)),
                        )
                        for side in sides
                        for case, driver in members
                    ],
                )
            )
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                side: pool.submit(
                    _run_side,
                    key,
                    members,
                    urls[side],
                    workdir / side,
                    with_plugin=side == "with",
                )
                for side in sides
            }
            results = {side: futures[side].result() for side in sides}
    finally:
        # In parallel: DROP DATABASE waits for a checkpoint, and concurrent drops share one.
        jobs = [(side, name, url) for side in sides for name, url in urls[side].items()]
        with ThreadPoolExecutor(max_workers=8) as pool:
            dumped = list(pool.map(lambda job: _dump_and_drop(databases, job[2]), jobs))
        dumps: dict[str, dict[str, Any]] = {side: {} for side in sides}
        for (side, name, _), dump in zip(jobs, dumped, strict=True):
            dumps[side][name] = dump
    for side in sides:
        results[side].databases = dumps[side]
    return {side: _as_json(results[side]) for side in sides}


def _dump_and_drop(databases: Databases, url: URL) -> dict[str, Any]:
    try:
        return databases.dump_and_drop(url)
    except Exception as error:  # noqa: BLE001 (reported as a difference, never hidden)
        return {"error": f"cannot read the database: {error}"}


def _as_json(result: SideResult) -> dict[str, Any]:
    return {
        "steps": [vars(step) for step in result.steps],
        "files_before": result.files_before,
        "databases": result.databases,
        "output_text": result.output_text,
    }


def _run_side(
    key: GroupKey,
    members: list[Member],
    urls: dict[str, URL],
    side_dir: Path,
    *,
    with_plugin: bool,
) -> SideResult:
    run_dir = side_dir / "run"
    run_dir.mkdir(parents=True)
    shutil.copyfile(INNER_CONFTEST, run_dir / "conftest.py")
    (run_dir / "pytest.ini").write_text(INNER_INI)
    inner_urls: dict[str, dict[str, str]] = {}
    for case, driver in members:
        shutil.copyfile(case.path, run_dir / case.module)
        url = urls[f"{case.name}/{driver}"].set(drivername=SCHEMES[driver])
        inner_urls.setdefault(case.name, {})[driver] = url.render_as_string(hide_password=False)
    result = SideResult(files_before=_files(run_dir))
    for number, step in enumerate(key.steps):
        output_dir = side_dir / f"step{number}"
        output_dir.mkdir()
        env = {
            **os.environ,
            **dict(key.env),
            **dict(step.env),
            "DBGUARD_SAFETY_DATABASES": json.dumps(inner_urls),
            "DBGUARD_SAFETY_OUTPUT": str(output_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("PYTEST_XDIST_WORKER", None)
        env.pop("PYTEST_XDIST_TESTRUNUID", None)
        env.pop("PYTEST_XDIST_WORKER_COUNT", None)
        plugin = list(step.plugin_args) if with_plugin else ["-p", "no:dbguard"]
        # the same umask for both runs, set in the child (preexec_fn is unsafe with threads)
        umask = ["sh", "-c", f'umask {UMASK:03o} && exec "$@"', "sh"]
        command = [
            *umask,
            sys.executable,
            "-m",
            "pytest",
            *COMMON_ARGS,
            *key.args,
            *plugin,
        ]
        started = time.monotonic()
        try:
            completed = subprocess.run(
                command,
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=STEP_TIMEOUT,
                check=False,
            )
            exit_code, output = (
                completed.returncode,
                completed.stdout.decode(errors="replace"),
            )
        except subprocess.TimeoutExpired as expired:
            exit_code = -1
            output = (expired.stdout or b"").decode(errors="replace")
            output += f"\n[harness] the session did not finish in {STEP_TIMEOUT} s: killed\n"
        seconds = time.monotonic() - started
        result.steps.append(
            StepResult(
                exit_code=exit_code,
                output=output,
                outcomes=_outcomes(output_dir),
                observations=_observations(output_dir),
                files=_files(run_dir),
                seconds=round(seconds, 2),
                drivers={
                    record["test"]: record["driver"] for record in _records(output_dir, "items")
                },
            )
        )
        result.output_text += output
    result.output_text += _written_text(run_dir)
    return result


def _records(directory: Path, name: str) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob(f"{name}-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def _outcomes(directory: Path) -> dict[str, dict[str, str]]:
    """One outcome per test id from its phases: passed, failed, error in setup, skipped ..."""
    phases: dict[str, dict[str, dict[str, Any]]] = {}
    for record in _records(directory, "outcomes"):
        phases.setdefault(record["test"], {})[record["when"]] = record
    outcomes = {}
    for test, by_phase in sorted(phases.items()):
        outcome, message = "not run", ""
        if "collect" in by_phase:
            outcome, message = "collection error", by_phase["collect"]["message"]
        setup = by_phase.get("setup")
        call = by_phase.get("call")
        if setup is not None and setup["outcome"] == "failed":
            outcome, message = "error in setup", setup["message"]
        elif setup is not None and setup["outcome"] == "skipped":
            outcome = "xfailed" if setup["xfail"] else "skipped"
        elif call is not None:
            outcome, message = call["outcome"], call["message"]
            if call["xfail"]:
                outcome = "xfailed" if call["outcome"] == "skipped" else "xpassed"
        teardown = by_phase.get("teardown")
        if teardown is not None and teardown["outcome"] == "failed":
            outcome += " + error in teardown"
            message = (message + "\n" + teardown["message"]).strip()
        outcomes[test] = {"outcome": outcome, "message": message}
    return outcomes


def _observations(directory: Path) -> dict[str, dict[str, Any]]:
    observed: dict[str, dict[str, Any]] = {}
    for record in _records(directory, "observations"):
        observed.setdefault(record["test"], {})[record["key"]] = record["value"]
    return observed


def _harness_file(relative: str) -> bool:
    parts = relative.split("/")
    return (
        "__pycache__" in parts
        or relative in ("conftest.py", "pytest.ini")
        or (len(parts) == 1 and parts[0].startswith("test_") and parts[0].endswith(".py"))
    )


def _files(run_dir: Path) -> dict[str, list[Any]]:
    """Every file in the run directory but the harness's own: path -> [sha1, mode]."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir).as_posix()
        if path.is_file() and not _harness_file(relative):
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            files[relative] = [digest, path.stat().st_mode & 0o777]
    return files


def _written_text(run_dir: Path) -> str:
    texts = []
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and not _harness_file(path.relative_to(run_dir).as_posix()):
            texts.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(texts)


# -- comparing ----------------------------------------------------------------------------------


def differences(case: Case, driver: str, key: GroupKey, group: dict[str, Any]) -> list[str]:
    """What differs for ``case`` on ``driver`` between the run without the plugin and the run
    with it, as readable lines; empty when nothing does."""
    without, with_ = group["without"], group["with"]
    found: list[str] = []
    for number, step in enumerate(key.steps):
        before, after = without["steps"][number], with_["steps"][number]
        title = f"step {number + 1} of {len(key.steps)} (with: {step.describe()})"

        def concerns(
            test: str, before: dict[str, Any] = before, after: dict[str, Any] = after
        ) -> bool:
            if not (test.startswith(case.module + "::") or test == case.module):
                return False
            ran_on = before["drivers"].get(test, after["drivers"].get(test))
            return ran_on in (None, driver)

        found += _outcome_differences(title, concerns, before, after)
        found += _observation_differences(title, concerns, before, after)
        found += _session_differences(title, before, after)
    name = f"{case.name}/{driver}"
    found += _database_differences(
        without["databases"].get(name, {}), with_["databases"].get(name, {})
    )
    found += _file_differences(case, driver, key, without, with_)
    for secret in case.secrets:
        if secret in with_["output_text"] and secret not in without["output_text"]:
            found.append(
                f"a parameter value ({secret!r}) reached the output or a file written with the plugin"
            )
    return found


def _outcome_differences(
    title: str,
    concerns: Callable[[str], bool],
    before: dict[str, Any],
    after: dict[str, Any],
) -> list[str]:
    found = []
    tests = sorted(
        test for test in set(before["outcomes"]) | set(after["outcomes"]) if concerns(test)
    )
    for test in tests:
        old = before["outcomes"].get(test, {"outcome": "not run", "message": ""})
        new = after["outcomes"].get(test, {"outcome": "not run", "message": ""})
        if old["outcome"] != new["outcome"]:
            lines = [
                f"{title}: {test}: {old['outcome']} without the plugin, {new['outcome']} with it"
            ]
            message = new["message"] or old["message"]
            if message:
                lines += ["    " + line for line in _tail(message, 12)]
            found.append("\n".join(lines))
    return found


def _observation_differences(
    title: str,
    concerns: Callable[[str], bool],
    before: dict[str, Any],
    after: dict[str, Any],
) -> list[str]:
    found = []
    for test in sorted(set(before["observations"]) | set(after["observations"])):
        if not concerns(test):
            continue
        old = before["observations"].get(test, {})
        new = after["observations"].get(test, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name, "(not observed)") != new.get(name, "(not observed)"):
                found.append(
                    f"{title}: {test} observed {name} = {old.get(name, '(not observed)')!r} "
                    f"without the plugin, {new.get(name, '(not observed)')!r} with it"
                )
    return found


def _session_differences(title: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Differences of the whole session (exit status, internal errors): they concern every
    case of the group, unless some test's outcome already explains them."""
    found = []
    same_outcomes = {test: o["outcome"] for test, o in before["outcomes"].items()} == {
        test: o["outcome"] for test, o in after["outcomes"].items()
    }
    if same_outcomes and before["exit_code"] != after["exit_code"]:
        found.append(
            f"{title}: the session exited with {before['exit_code']} without the plugin, "
            f"{after['exit_code']} with it, every test's outcome being the same:\n"
            + "\n".join("    " + line for line in _tail(after["output"], 15))
        )
    for marker in ("INTERNALERROR", "Traceback (most recent call last)"):
        if marker in after["output"] and marker not in before["output"]:
            found.append(
                f"{title}: {marker} in the output with the plugin:\n"
                + "\n".join("    " + line for line in _excerpt(after["output"], marker, 15))
            )
    return found


def _database_differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    if "error" in before or "error" in after:
        return [f"database: {before.get('error') or after.get('error')}"]
    found = []
    visited = _autovacuum_visited(before) | _autovacuum_visited(after)
    for section in sorted(set(before) | set(after)):
        old, new = before.get(section), after.get(section)
        if section == "statistics":
            old, new = (
                _without_autovacuum(old or {}, visited),
                _without_autovacuum(new or {}, visited),
            )
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    found.append(
                        f"database {section} of {name}: "
                        + _describe_change(old.get(name), new.get(name))
                    )
        else:
            found.append(f"database {section}: " + _describe_change(old, new))
    return found


def _autovacuum_visited(dump: dict[str, Any]) -> set[str]:
    return {
        table
        for table, figures in dump.get("statistics", {}).items()
        if figures.get("autoanalyze_count") or figures.get("autovacuum_count")
    }


def _without_autovacuum(statistics: dict[str, Any], visited: set[str]) -> dict[str, Any]:
    """Autovacuum may visit a table in one run and not the other: the figures it changes are
    not compared for such a table (nor its indexes)."""
    kept = {}
    for name, figures in statistics.items():
        table = figures.get("table", name)
        if table in visited or name in visited:
            figures = {k: v for k, v in figures.items() if k not in AUTOVACUUM_SENSITIVE}
        kept[name] = figures
    return kept


def _describe_change(old: Any, new: Any) -> str:
    if isinstance(old, list) and isinstance(new, list):
        removed = [item for item in old if item not in new]
        added = [item for item in new if item not in old]
        parts = []
        if removed:
            parts.append("without the plugin only: " + ", ".join(map(str, removed[:10])))
        if added:
            parts.append("with the plugin only: " + ", ".join(map(str, added[:10])))
        return "; ".join(parts) or f"{old!r} without the plugin, {new!r} with it (order)"
    if isinstance(old, dict) and isinstance(new, dict):
        changed = [
            f"{name} {old.get(name)!r} -> {new.get(name)!r}"
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name)
        ]
        return ", ".join(changed) + " (without the plugin -> with it)"
    return f"{old!r} without the plugin, {new!r} with it"


def _file_differences(
    case: Case,
    driver: str,
    key: GroupKey,
    without: dict[str, Any],
    with_: dict[str, Any],
) -> list[str]:
    """Files the tests write are the same with the plugin; files the plugin writes follow the
    umask; no file present before a step is gone after it (golden files are never lost: the
    tests did not change between steps)."""
    found = []
    expected_mode = 0o666 & ~UMASK

    def concerns(path: str) -> bool:
        """Snapshots are named after their test (its driver among the ids); other files
        (reports) concern every case of the session."""
        parts = path.split("/")
        if "__dbguard__" in parts:
            index = parts.index("__dbguard__")
            if len(parts) <= index + 1 or parts[index + 1] != case.module[:-3]:
                return False
            return driver in re.split(r"[\[\]\-]|\.plan$", parts[-1])
        return True

    last_without = without["steps"][-1]["files"]
    last_with = with_["steps"][-1]["files"]
    for path in sorted(last_without):
        if not concerns(path):
            continue
        if path not in last_with:
            found.append(f"file {path}: written by the tests, missing with the plugin")
        elif last_with[path] != last_without[path]:
            found.append(
                f"file {path}: differs with the plugin (sha1, mode: {last_without[path]} "
                f"without, {last_with[path]} with)"
            )
    for path, (_, mode) in sorted(last_with.items()):
        if concerns(path) and path not in last_without and mode != expected_mode:
            found.append(
                f"file {path}: written by the plugin with mode {mode:o}, not {expected_mode:o} "
                f"(umask {UMASK:03o})"
            )
    previous = with_["files_before"]
    for number, step in enumerate(with_["steps"]):
        lost = [path for path in previous if path not in step["files"] and concerns(path)]
        if lost:
            found.append(
                f"step {number + 1} of {len(key.steps)} (with: {key.steps[number].describe()}) "
                f"removed {', '.join(lost)}: the tests still exist"
            )
        previous = step["files"]
    return found


def _tail(text: str, count: int) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-count:]


def _excerpt(text: str, marker: str, count: int) -> list[str]:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if marker in line:
            return lines[index : index + count]
    return []


# -- sharing results between pytest-xdist workers -------------------------------------------------


class GroupRuns:
    """Each group runs once per outer session, even when its cases' tests are spread over
    pytest-xdist workers: the first worker to need it runs it under a file lock and leaves the
    result as JSON for the others."""

    def __init__(
        self,
        shared: Path,
        databases: Databases,
        members: dict[GroupKey, list[Member]],
        mysql_problem: str | None,
    ) -> None:
        self.shared = shared
        self.databases = databases
        self.members = members
        self.mysql_problem = mysql_problem  # why MySQL cases are skipped, or None
        self._lock = threading.Lock()

    def result(self, key: GroupKey) -> dict[str, Any]:
        import fcntl

        path = self.shared / f"group-{key.digest}.json"
        with self._lock, open(self.shared / f"group-{key.digest}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                loaded: dict[str, Any] = json.loads(path.read_text())
                return loaded
            workdir = self.shared / f"group-{key.digest}"
            if workdir.exists():
                shutil.rmtree(workdir)
            workdir.mkdir()
            result = run_group(key, self.members[key], self.databases, workdir)
            path.write_text(json.dumps(result))
            shutil.rmtree(workdir, ignore_errors=True)
            return result
