"""Promises of pytest-dbguard that are not differential by nature (issue 10), tested from the
outside: each runs pytest sessions with pytester and reads what they print and write, never
the plugin's internals. Tests marked xfail name the defect of issue 10 that makes them fail at
the commit the suite was written on; xfail_strict makes a fix visible."""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

INNER_CONFTEST = """
import os

import pytest
from sqlalchemy import create_engine


@pytest.fixture
def engine():
    engine = create_engine(os.environ["DBGUARD_INNER_URL"])
    yield engine
    engine.dispose()
"""


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _values(value: object, key: str) -> Iterator[str]:
    """Every string under ``key`` in a JSON document."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key and isinstance(item, str):
                yield item
            else:
                yield from _values(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _values(item, key)


def _suggested_sql(report: Path) -> list[str]:
    """The statements of every index a JSON report suggests (its ``create_sql``), in order,
    once each."""
    statements: list[str] = []
    for text in _values(json.loads(report.read_text()), "create_sql"):
        for statement in text.split(";"):
            statement = re.sub(r"--[^\n]*", "", statement).strip()
            if statement and statement not in statements:
                statements.append(statement)
    return statements


# -- fingerprints (item 19) -----------------------------------------------------------------------


def test_fingerprinting_stays_fast_on_unclosed_dollar_tags(pytester: pytest.Pytester) -> None:
    """Fingerprinting runs on every new statement text: it must never be slow, whatever the
    text. 25 KB of unclosed dollar-quote openings cost no more than 25 KB without them (both
    timed in one process, sent to SQLite, which refuses them: a ratio, not a duration)."""
    pytester.makepyfile(
        test_slow="""
        import time
        from sqlalchemy import create_engine, exc, text

        def seconds(conn, statement):
            started = time.monotonic()
            try:
                conn.execute(text(statement))
            except exc.DBAPIError:
                pass
            return time.monotonic() - started

        def test_one_long_statement():
            engine = create_engine("sqlite://")
            with engine.connect() as conn:
                plain = seconds(conn, "SELECT 1 WHERE 'a' = " + " ".join(f"x_t{n}_" for n in range(3000)))
                dollars = seconds(conn, "SELECT 1 WHERE 'a' = " + " ".join(f"x$t{n}$" for n in range(3000)))
            assert dollars < 5 * plain + 0.5, (plain, dollars)
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


@pytest.mark.usefixtures("pg_db")
def test_fingerprints_keep_the_statements_shape(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        test_shapes="""
        from sqlalchemy import text

        def test_shapes(engine, dbguard):
            with engine.connect() as conn:
                conn.execute(text("CREATE TEMPORARY TABLE t (id integer PRIMARY KEY, a text, b text)"))
                conn.execute(text("SELECT E'it\\\\'s' AS quote, id FROM t WHERE id = 1")).all()
                conn.execute(text("SELECT a, b FROM t ORDER BY 1")).all()
                conn.execute(text("SELECT a, b FROM t ORDER BY 2")).all()
                conn.execute(text("SELECT a, count(*) FROM t GROUP BY 1")).all()
                conn.execute(text("SELECT a, b, count(*) FROM t GROUP BY 1, 2")).all()
            shapes = [query.fingerprint for query in dbguard.queries if query.kind == "select"]
            assert "FROM t WHERE id = ?" in shapes[0], shapes[0]
            assert len(set(shapes[1:])) == 4, shapes
        """
    )
    pytester.runpytest("--dbguard-seqscan=off", "--dbguard-lints=off").assert_outcomes(passed=1)


# -- call sites (item 21) -----------------------------------------------------------------------


def test_call_sites_name_the_nearest_user_frame(pytester: pytest.Pytester) -> None:
    """The same statement text sent through two paths of different depths (a repository layer
    the user declares as library code, two SQLAlchemy entry points): each run names its own
    nearest user frame, whatever the other path left behind."""
    pytester.makeini("[pytest]\ndbguard_library_modules = repo\n")
    pytester.makepyfile(
        repo="""
        from sqlalchemy import text

        def scalar(conn, sql):
            return conn.scalar(text(sql))

        def call(function, *args):
            return function(*args)
        """,
        test_sites="""
        import repo
        from sqlalchemy import create_engine, text

        SQL = "SELECT 1 AS probe"

        def helper(conn):
            return conn.execute(text(SQL)).scalar()

        def test_sites(dbguard):
            engine = create_engine("sqlite://")
            with engine.connect() as conn:
                repo.scalar(conn, SQL)
                repo.call(helper, conn)
            sites = [query.call_site.function for query in dbguard.queries if query.sql == SQL]
            assert sites == ["test_sites", "helper"], sites
        """,
    )
    pytester.runpytest("--dbguard-duplicates=off").assert_outcomes(passed=1)


# -- memory (item 11) ---------------------------------------------------------------------------


def _peak_rss_kib(pytester: pytest.Pytester, *args: str) -> int:
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
    return int((pytester.path / "peak_rss").read_text())


def test_memory_does_not_grow_with_the_size_of_parameters(pytester: pytest.Pytester) -> None:
    """200 statements with a new 1 MB parameter each: the plugin keeps no copy of them (the
    inner process's peak RSS, with and without the plugin)."""
    pytester.makeconftest(
        """
        import resource

        def pytest_sessionfinish(session):
            with open("peak_rss", "w") as handle:
                handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        """
    )
    pytester.makepyfile(
        test_blobs="""
        from sqlalchemy import create_engine, text

        def test_blobs():
            engine = create_engine("sqlite://")
            with engine.connect() as conn:
                conn.execute(text("CREATE TABLE blobs (b blob)"))
                for n in range(200):
                    blob = bytes([n % 256]) * (1 << 20)
                    conn.execute(text("INSERT INTO blobs (b) SELECT :b WHERE 0"), {"b": blob})
        """
    )
    without = _peak_rss_kib(pytester, "-p", "no:dbguard")
    with_plugin = _peak_rss_kib(pytester)
    assert with_plugin <= 2 * without + 50 * 1024, (without, with_plugin)


@pytest.mark.usefixtures("pg_db")
def test_memory_does_not_grow_with_parameters_a_driver_wraps(pytester: pytest.Pytester) -> None:
    """The same on PostgreSQL through a LargeBinary column: SQLAlchemy hands psycopg each value
    wrapped in ``psycopg.Binary``, an object whose size no ``len`` shows."""
    pytester.makeconftest(
        """
        import resource

        def pytest_sessionfinish(session):
            with open("peak_rss", "w") as handle:
                handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        """
    )
    pytester.makepyfile(
        test_wrapped_blobs="""
        import os

        from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, create_engine, insert

        BLOBS = Table("blobs", MetaData(), Column("id", Integer, primary_key=True),
                      Column("data", LargeBinary))

        def test_blobs():
            engine = create_engine(os.environ["DBGUARD_INNER_URL"])
            with engine.connect() as conn:
                BLOBS.create(conn)
                for n in range(200):
                    conn.execute(insert(BLOBS), {"id": n, "data": bytes([n % 256]) * (1 << 20)})
                conn.rollback()
        """
    )
    without = _peak_rss_kib(pytester, "-p", "no:dbguard")
    with_plugin = _peak_rss_kib(pytester)
    assert with_plugin <= 2 * without + 50 * 1024, (without, with_plugin)


# -- xdist (item 13) ----------------------------------------------------------------------------


def test_a_bad_marker_is_the_same_usage_error_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.max_queries("three")
        def test_bad():
            pass
        """
    )
    # A bad marker is an error of its test, raised when it would run: the same serially and in
    # a pytest-xdist worker (whose controller does not collect tests).
    for args in ([], ["-n", "2"]):
        result = pytester.runpytest_subprocess(*args)
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            ["*usage error: test_marker.py::test_bad: @pytest.mark.max_queries('three')*"]
        )


# -- reused verdicts (item 16) ------------------------------------------------------------------

ORDER_CONFTEST = """
import os

import psycopg
import pytest
from sqlalchemy import create_engine, text

URL = os.environ["DBGUARD_INNER_URL"]


@pytest.fixture(scope="session", autouse=True)
def schema():
    engine = create_engine(URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS indexed, bare CASCADE"))
        conn.execute(text("DROP TABLE IF EXISTS public.people"))
        for schema in ("indexed", "bare"):
            conn.execute(text(f"CREATE SCHEMA {schema}"))
            conn.execute(text(f"CREATE TABLE {schema}.people (id integer PRIMARY KEY, city text)"))
            conn.execute(text(f"INSERT INTO {schema}.people SELECT n, 'c' || n FROM generate_series(1, 50) n"))
        conn.execute(text("CREATE INDEX ix_people_city ON indexed.people (city)"))
        conn.execute(text("CREATE TABLE public.people (id integer PRIMARY KEY, city text)"))
        conn.execute(text("CREATE INDEX ix_public_people_city ON public.people (city)"))
    engine.dispose()


@pytest.fixture
def engine_in(request):
    engines = []

    def make(search_path):
        engine = create_engine(URL, connect_args={"options": f"-csearch_path={search_path}"})
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def unindexed_by_hidden_ddl():
    # DDL the plugin cannot recognise as DDL: a comment first, or sent outside SQLAlchemy
    with psycopg.connect(URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("/* step 42 */ DROP INDEX public.ix_public_people_city")
    yield
    with psycopg.connect(URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("CREATE INDEX ix_public_people_city ON public.people (city)")
"""

ORDER_TESTS = """
from sqlalchemy import text

QUERY = text("SELECT id FROM people WHERE city = 'c7'")


def test_indexed_schema(engine_in):
    with engine_in("indexed").connect() as conn:
        conn.execute(QUERY).all()


def test_bare_schema(engine_in):
    with engine_in("bare").connect() as conn:
        conn.execute(QUERY).all()


def test_public_before(engine_in):
    with engine_in("public").connect() as conn:
        conn.execute(QUERY).all()


def test_public_without_its_index(engine_in, unindexed_by_hidden_ddl):
    with engine_in("public").connect() as conn:
        conn.execute(QUERY).all()
"""


def _outcomes(result: pytest.RunResult) -> dict[str, str]:
    outcomes = {}
    for line in result.stdout.lines:
        match = re.match(r"(test_order\.py::\w+) (PASSED|FAILED|ERROR)", line)
        if match:
            outcomes[match.group(1)] = match.group(2)
    return outcomes


@pytest.mark.usefixtures("pg_db")
def test_verdicts_do_not_depend_on_the_order_of_tests(
    pytester: pytest.Pytester,
) -> None:
    """The same statement text in two tests that see different schemas (search_path; an index
    dropped by DDL the plugin does not recognise): each test's verdict is its own, in any order
    (pytest-randomly, -p xdist)."""
    pytester.makeconftest(ORDER_CONFTEST)
    pytester.makepyfile(test_order=ORDER_TESTS)
    forward = [
        "test_order.py::test_indexed_schema",
        "test_order.py::test_bare_schema",
        "test_order.py::test_public_before",
        "test_order.py::test_public_without_its_index",
    ]
    first = _outcomes(pytester.runpytest_subprocess("-v", *forward))
    second = _outcomes(pytester.runpytest_subprocess("-v", *reversed(forward)))
    assert len(first) == 4
    assert first == second


# -- suggested SQL (item 17) --------------------------------------------------------------------

QUOTING_TESTS = """
from sqlalchemy import text

def test_reserved_word(engine):
    with engine.connect() as conn:
        conn.execute(text('SELECT id FROM "user" WHERE created_at = 3')).all()

def test_space_in_names(engine):
    with engine.connect() as conn:
        conn.execute(text('SELECT id FROM "Order Items" WHERE "Unit Price" = 3')).all()

def test_partitioned_table(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT id FROM measurements WHERE value = 3")).all()
"""

QUOTING_SCHEMA = """
CREATE TABLE "user" (id integer PRIMARY KEY, created_at integer NOT NULL);
INSERT INTO "user" SELECT n, n FROM generate_series(1, 300) n;
CREATE TABLE "Order Items" (id integer PRIMARY KEY, "Unit Price" integer NOT NULL);
INSERT INTO "Order Items" SELECT n, n FROM generate_series(1, 300) n;
CREATE TABLE measurements (id integer NOT NULL, day integer NOT NULL, value integer NOT NULL)
    PARTITION BY RANGE (day);
CREATE TABLE measurements_1 PARTITION OF measurements FOR VALUES FROM (0) TO (100);
CREATE TABLE measurements_2 PARTITION OF measurements FOR VALUES FROM (100) TO (200);
INSERT INTO measurements SELECT n, n % 200, n FROM generate_series(1, 600) n;
ANALYZE;
"""


def test_suggested_indexes_run_as_written(pytester: pytest.Pytester, pg_db: str) -> None:
    """The migration a finding suggests is pasted by users: it must run as written, for names
    that need quoting, and create the index on a partitioned table's parent."""
    _run_sql(pg_db, QUOTING_SCHEMA)
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_quoting=QUOTING_TESTS)
    result = pytester.runpytest("--dbguard-json=report.json", "-o", "dbguard_judge_test_queries=1")
    result.assert_outcomes(failed=3)
    suggested = _suggested_sql(pytester.path / "report.json")
    assert suggested, result.stdout.str()
    _run_sql(pg_db, *suggested)
    with psycopg.connect(_psycopg_url(pg_db), autocommit=True) as conn:
        indexed = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT indrelid::regclass::text FROM pg_index WHERE NOT indisprimary"
            )
        }
    assert {'"user"', '"Order Items"', "measurements"} <= indexed, (suggested, indexed)


# -- trial indexes that cannot be created (item 18) ---------------------------------------------


@pytest.fixture
def reader_url(pg_db: str) -> Iterator[str]:
    """The test database as a role that may read the table but does not own it."""
    role = f"dbguard_reader_{uuid.uuid4().hex[:8]}"
    _run_sql(
        pg_db,
        "CREATE TABLE people (id integer PRIMARY KEY, city text NOT NULL)",
        "INSERT INTO people SELECT n, 'c' || (n % 9) FROM generate_series(1, 300) n",
        "ANALYZE people",
        f"CREATE ROLE {role} LOGIN",
        f"GRANT SELECT ON people TO {role}",
    )
    yield make_url(pg_db).set(username=role, password=None).render_as_string(hide_password=False)
    _run_sql(pg_db, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


UNINDEXED_TEST = """
from sqlalchemy import text

def test_unindexed(engine):
    with engine.connect() as conn:
        {setup}
        conn.execute(text("SELECT id FROM people WHERE city = 'c3'")).all()
"""


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("pass", "must be owner"),
        ('conn.execute(text("SET TRANSACTION READ ONLY"))', "read-only transaction"),
    ],
    ids=["not-the-owner", "read-only-transaction"],
)
def test_an_index_that_could_not_be_tried_says_why(
    pytester: pytest.Pytester,
    reader_url: str,
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    reason: str,
) -> None:
    monkeypatch.setenv("DBGUARD_INNER_URL", reader_url)
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_unindexed=textwrap.dedent(UNINDEXED_TEST).format(setup=setup))
    result = pytester.runpytest("-o", "dbguard_judge_test_queries=1")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "would not be used" not in output
    assert reason in output
