"""Faults and bad input: each ends in a clear message, and nothing is lost."""

from __future__ import annotations

import re

import pytest
from _helpers import break_fsync, snapshot_files
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dbguard.capture.fingerprint import fingerprint

SUITE = """
from sqlalchemy import text

def test_first(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT title FROM items WHERE user_id = :u"), {"u": 1}).all()

def test_second(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": 1}).all()

def test_third(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM items")).all()
"""


def test_a_connection_killed_mid_test(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_suite=SUITE)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    before = snapshot_files(plan_app.path)
    plan_app.makepyfile(
        test_suite=SUITE.replace(
            """        conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": 1}).all()""",
            """        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        conn.execute(text("SELECT email FROM users WHERE id = :u AND id > 0"), {"u": 1}).all()""",
        )
    )
    result = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    result.assert_outcomes(passed=2, failed=1)
    # the test's own statement meets the closed connection, as it would without the plugin
    # (which examines a statement after it ran)
    result.stdout.fnmatch_lines(
        [
            "*AdminShutdown*terminating connection due to administrator command*",
            "FAILED test_suite.py::test_second - sqlalchemy.exc.OperationalError*",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert snapshot_files(plan_app.path) == before


def test_a_snapshot_that_is_not_a_file(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_suite=SUITE)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / "__dbguard__/test_suite/test_second.plan"
    path.unlink()
    path.mkdir()
    checked = plan_app.runpytest("--dbguard-plans")
    checked.assert_outcomes(passed=2, failed=1)
    checked.stdout.fnmatch_lines(
        ["__dbguard__/test_suite/test_second.plan: cannot be read: Is a directory"]
    )
    updated = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    assert updated.ret == pytest.ExitCode.TESTS_FAILED
    updated.stdout.fnmatch_lines(
        ["dbguard: ERROR __dbguard__/test_suite/test_second.plan: cannot write the snapshot:*"]
    )
    assert path.is_dir()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_every_file_is_old_or_new_after_an_interrupted_update(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(test_suite=SUITE)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    old = snapshot_files(plan_app.path)
    plan_app.makepyfile(
        test_suite=SUITE.replace("WHERE user_id = :u", "WHERE user_id = :u AND title <> ''")
        .replace("WHERE id = :u", "WHERE id = :u AND email <> ''")
        .replace("count(*) FROM items", "count(*) FROM items WHERE id > 0")
    )
    original_conftest = break_fsync(
        plan_app,
        """
        _fsync.calls = getattr(_fsync, "calls", 0) + 1
        if _fsync.calls == 2:
            raise KeyboardInterrupt
        os.fsync(descriptor)
        """,
    )
    # in a process of its own: the interrupt must stop that session, not this one
    result = plan_app.runpytest_subprocess("--dbguard-plans", "--dbguard-update")
    assert result.ret != pytest.ExitCode.OK
    result.stderr.fnmatch_lines(["*KeyboardInterrupt*"])
    interrupted = snapshot_files(plan_app.path)
    (plan_app.path / "conftest.py").write_text(original_conftest)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    new = snapshot_files(plan_app.path)
    assert set(interrupted) == set(old) == set(new)
    states = [
        "new" if interrupted[n] == new[n] else "old" if interrupted[n] == old[n] else "torn"
        for n in sorted(old)
    ]
    assert states == ["new", "old", "old"], states  # written in order; the second interrupted
    leftovers = [p for p in (plan_app.path / "__dbguard__").rglob("*") if p.name.startswith(".")]
    assert leftovers == []


# -- the fingerprint normalizer, under property-based tests ---------------------------------

LITERALS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9).map(
        lambda value: repr(abs(value))
    ),
    st.text(max_size=20).map(lambda text: "'" + text.replace("'", "''") + "'"),
)
TEMPLATES = [
    "SELECT * FROM users WHERE id = {} AND email = {}",
    "SELECT a, b FROM t WHERE x IN ({}, {}) ORDER BY a LIMIT 10",
    "UPDATE items SET title = {} WHERE id = {}",
    "INSERT INTO t (a, b) VALUES ({}, {})",
    # a literal inside a line comment is no literal (one with a newline ends the comment)
    "select count(*) from t where created_at > {} -- newest first\n and id <> {}",
    "SELECT {} + {} AS total",
]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fingerprint_never_raises_and_is_idempotent(sql: str) -> None:
    shape = fingerprint(sql)
    assert fingerprint(shape) == shape


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TEMPLATES), LITERALS, LITERALS, LITERALS, LITERALS)
def test_statements_that_differ_only_in_literals_share_a_shape(
    template: str, a: str, b: str, c: str, d: str
) -> None:
    assert fingerprint(template.format(a, b)) == fingerprint(template.format(c, d))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(), min_size=1, max_size=30))
def test_placeholder_lists_of_any_length_share_a_shape(values: list[int]) -> None:
    styles = ["%s", "?", "%(p{})s", ":p{}", "${}"]
    for style in styles:
        placeholders = ", ".join(style.format(n + 1) for n in range(len(values)))
        shape = fingerprint(f"SELECT * FROM t WHERE id IN ({placeholders})")
        assert shape == "SELECT * FROM t WHERE id IN (...)", shape
    rows = ", ".join(f"({n}, 'x{n}')" for n in values)
    assert fingerprint(f"INSERT INTO t (a, b) VALUES {rows}") == "INSERT INTO t (a, b) VALUES (...)"
    assert re.fullmatch(r"SAVEPOINT \?", fingerprint(f"SAVEPOINT sa_savepoint_{len(values)}"))
