"""The terminal summary after the run."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("any_db")
def test_summary_lists_totals_busiest_tests_and_findings(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_suite="""
        import pytest
        from sqlalchemy import select, text
        from models import User

        @pytest.mark.parametrize("n", range(7))
        def test_queries(engine, n):
            with engine.connect() as conn:
                for k in range(n):
                    conn.execute(text(f"SELECT {k} AS column_{k}"))

        def test_nplusone(session):
            for user in session.scalars(select(User)):
                len(user.items)

        def test_without_database():
            pass
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= dbguard =*",
            "9 tests measured, * statements captured (27 counted against budgets)",
            "Most queries:",
            "        6  test_suite.py::test_nplusone",
            "        6  test_suite.py::test_queries[6]",
            "        5  test_suite.py::test_queries[5]",
            "        4  test_suite.py::test_queries[4]",
            "        3  test_suite.py::test_queries[3]",
            "Findings: 1 nplusone (fail)",
        ]
    )
    result.stdout.no_fnmatch_line("*test_queries[2]*")
    verbose = app.runpytest("-v")
    verbose.stdout.fnmatch_lines(
        ["  FAIL test_suite.py::test_nplusone: N+1 query: User.items was lazy-loaded*"]
    )


def test_no_summary_without_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def helper(): pass")
    result = pytester.runpytest()
    result.stdout.no_fnmatch_line("*= dbguard =*")


@pytest.mark.usefixtures("any_db")
def test_junit_xml_holds_no_plugin_data(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_one="""
        from sqlalchemy import text

        def test_query(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        """
    )
    app.runpytest("--junitxml=junit.xml").assert_outcomes(passed=1)
    xml = (app.path / "junit.xml").read_text()
    assert "<testcase" in xml
    assert "dbguard" not in xml


def test_statements_not_examined_read_the_same_whether_the_test_passed(
    plan_app: pytest.Pytester,
) -> None:
    """A statement the plugin does not EXPLAIN (planning it would run the application's own
    stable function) is listed with its reason, shortened and in the order it ran, the same
    for a test that passes and one that fails."""
    plan_app.makepyfile(
        test_notes="""
        from sqlalchemy import text

        FUNCTION = (
            "CREATE OR REPLACE FUNCTION masked(value text) RETURNS text STABLE LANGUAGE sql "
            "AS $$ SELECT left(value, 1) || '***' $$"
        )
        QUERY = text("SELECT id, email FROM users WHERE masked(email) = :m")

        def test_passes(engine):
            with engine.begin() as conn:
                conn.execute(text(FUNCTION))
                conn.execute(QUERY, {"m": "a***"}).all()

        def test_fails(engine):
            with engine.begin() as conn:
                conn.execute(text(FUNCTION))
                conn.execute(QUERY, {"m": "a***"}).all()
            assert False, "the test's own failure"
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    note = (
        "SELECT ... FROM users WHERE masked(email) = ?: not examined: planning it would run "
        "masked (the application's immutable or stable functions)"
    )
    result.stdout.fnmatch_lines(
        [
            "Statements not examined (their plans are not checked): 2",
            f"  test_notes.py::test_fails: {note}",
            f"  test_notes.py::test_passes: {note}",
        ]
    )
