"""--dbguard-disable / ini dbguard_disable: every check off, the markers still registered (where
-p no:dbguard breaks collection under --strict-markers), and the dbguard fixture inert."""

from __future__ import annotations

import pytest

from pytest_dbguard.markers import MARKERS

SUITE = """
import pytest
from sqlalchemy import select, text
from models import User


@pytest.mark.max_queries(0)
@pytest.mark.allow_nplusone
@pytest.mark.allow_seqscan("users")
@pytest.mark.allow_lint("cartesian_join")
@pytest.mark.snapshot_plans
def test_marked(session):
    for user in session.scalars(select(User)):
        len(user.items)
    session.scalars(select(User).where(User.email == "a")).all()


@pytest.mark.num_queries(0)
def test_fixture_blocks(engine, dbguard):
    assert dbguard.enabled is False
    with dbguard.max_queries(0), dbguard.num_queries(5), dbguard.allow_nplusone():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert dbguard.check_schema(engine) == []


def test_reads_the_capture(engine, dbguard):
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert dbguard.count() == 1


def test_reads_the_queries(engine, dbguard):
    assert dbguard.queries == []
"""

OUTPUTS = [
    "--dbguard-report=out/report.md",
    "--dbguard-json=out/report.json",
    "--dbguard-sarif=out/dbguard.sarif",
    "--dbguard-pr-summary=out/pr.md",
    "--dbguard-baseline=out/baseline.json",
    "--dbguard-baseline-update",
    "--dbguard-step-summary",
    "--dbguard-plans",
    "--dbguard-update",
    "--dbguard-schema=fail",
]


@pytest.mark.parametrize("switch", ["option", "ini"])
@pytest.mark.usefixtures("pg_db")
def test_the_switch_turns_every_check_off_and_keeps_the_markers(
    app: pytest.Pytester, switch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = app.path / "step-summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert all(
        f"@pytest.mark.{name}(" in SUITE or f"@pytest.mark.{name}\n" in SUITE for name in MARKERS
    )
    app.makepyfile(test_disabled=SUITE)
    if switch == "option":
        plain = app.runpytest("--strict-markers")
        plain.assert_outcomes(failed=2, passed=2)  # the checks, on

        # Subprocesses: in-process runs share pytest.mark's cache of registered markers.
        without = app.runpytest_subprocess("--strict-markers", "-p", "no:dbguard")
        without.stdout.fnmatch_lines(
            ["*'max_queries' not found in `markers` configuration option*"]
        )
        assert without.ret == pytest.ExitCode.INTERRUPTED  # why users need the switch
        args = ["--dbguard-disable"]
    else:
        app.makeini("[pytest]\ndbguard_judge_test_queries = true\ndbguard_disable = true\n")
        args = []
    result = app.runpytest_subprocess("--strict-markers", *args, *OUTPUTS, "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * pytest-dbguard is turned off (--dbguard-disable): nothing is captured, "
            "dbguard.count() is not available",
            "SKIPPED * pytest-dbguard is turned off (--dbguard-disable): nothing is captured, "
            "dbguard.queries is not available",
        ]
    )
    result.stdout.no_fnmatch_line("*= dbguard =*")  # nothing measured, nothing written
    result.stdout.no_fnmatch_line("*DBGuard*")
    assert not (app.path / "out").exists()
    assert not (app.path / "__dbguard__").exists()
    assert summary.read_text() == ""


def test_the_switch_takes_only_true_or_false(app: pytest.Pytester) -> None:
    app.makeini("[pytest]\ndbguard_disable = maybe\n")
    result = app.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --dbguard-disable / ini dbguard_disable: 'maybe' is not true or false"]
    )
