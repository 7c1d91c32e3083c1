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
