"""Bad markers and option values: a usage error naming the test, the marker or the option.

A bad option stops the session before any test runs. A bad marker is an error of its test,
raised when the test would run (so that it reads the same serially and under pytest-xdist,
whose controller does not collect tests itself)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ("max_queries(-1)", "the query budget must be a whole number of at least 0, not -1"),
        ("max_queries('3')", "the query budget must be a whole number of at least 0, not '3'"),
        ("max_queries(True)", "the query budget must be a whole number of at least 0, not True"),
        ("max_queries()", "expects one query budget, got 0 positional arguments"),
        ("num_queries(1, 2)", "expects one query budget, got 2 positional arguments"),
        ("max_queries(3, limit=4)", "unknown keyword argument limit (known: kinds, match)"),
        ("max_queries(3, kinds=['selects'])", "unknown statement kind 'selects'*"),
        ("max_queries(3, match='(')", "match is not a valid regular expression*"),
        ("allow_nplusone('yes')", "takes no arguments but an optional reason="),
        (
            "max_queries(1)\n        @pytest.mark.max_queries(5)",
            "*max_queries(5) and @pytest.mark.max_queries(1) on one test: keep one*",
        ),
    ],
)
def test_invalid_marker_arguments_are_usage_errors(
    pytester: pytest.Pytester, marker: str, problem: str
) -> None:
    pytester.makepyfile(
        test_marked=f"""
        import pytest

        def test_fine():
            pass

        @pytest.mark.{marker}
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"*usage error: test_marked.py::test_marked: @pytest.mark.*{problem}"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_bad_marker_reads_the_same_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        def test_fine():
            pass

        @pytest.mark.max_queries(-1)
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*usage error: test_marked.py::test_marked: @pytest.mark.max_queries(-1)*"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dbguard-nplusone=maybe"],
            "--dbguard-nplusone / ini dbguard_nplusone: 'maybe' is not one of fail, warn, off",
        ),
        (
            ["--dbguard-nplusone-threshold=1"],
            "*dbguard_nplusone_threshold: '1' is not a whole number of at least 2",
        ),
        (
            ["--dbguard-max-queries=many"],
            "*dbguard_max_queries: 'many' is not a whole number of at least 0",
        ),
        (
            ["-o", "dbguard_count_kinds=select rows"],
            "*dbguard_count_kinds: unknown statement kind 'rows'*",
        ),
        (["-o", "dbguard_callsites=some"], "*dbguard_callsites: 'some' is not one of sample, all"),
        (
            ["-o", "dbguard_count_setup=perhaps"],
            "ini dbguard_count_setup: 'perhaps' is not true or false",
        ),
        (
            ["-o", "dbguard_count_kinds=select rows"],
            "ini dbguard_count_kinds: unknown statement kind 'rows'*",
        ),
    ],
)
def test_invalid_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_invalid_block_budget_names_the_call(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_block(dbguard):
            with dbguard.max_queries(-2):
                pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ValueError: dbguard.max_queries(-2): the query budget must be a whole number*"]
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.max_queries(n, *, kinds=None, match=None):*",
            "@pytest.mark.num_queries(n, *, kinds=None, match=None):*",
            "@pytest.mark.allow_nplusone:*",
        ]
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.max_queries(1)
        @pytest.mark.allow_nplusone
        def test_strict():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "database performance checks (pytest-dbguard):",
            "*--dbguard-nplusone=NPLUSONE*",
            "*--dbguard-seqscan=SEQSCAN*",
            "*--dbguard-cost-tolerance=COST_TOLERANCE*",
        ]
    )
    result.stdout.fnmatch_lines(["*dbguard_count_kinds (args):*"])
