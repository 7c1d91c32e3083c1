"""Under pytest-xdist, pytest-dbguard works exactly as it does serially."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from _helpers import snapshot_files

SUITE = """
import pytest
from sqlalchemy import text

@pytest.mark.parametrize("user", range(1, 7))
def test_items(engine, user):
    with engine.connect() as conn:
        conn.execute(text("SELECT title FROM items WHERE user_id = :u"), {"u": user}).all()

@pytest.mark.parametrize("status", ["a", "b"])
def test_unindexed(engine, status):
    with engine.connect() as conn:
        conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": status}).all()

@pytest.mark.max_queries(1)
def test_over_budget(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).all()
        conn.execute(text("SELECT 2")).all()

def test_loop(engine):
    with engine.connect() as conn:
        for user in range(1, 5):
            conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user}).all()
"""


@pytest.fixture(autouse=True)
def schema_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBGUARD_SCHEMA_PER_WORKER", "1")


def run(
    app: pytest.Pytester, *args: str
) -> tuple[dict[str, int], dict[str, bytes], dict[str, Any]]:
    for path in (app.path / "__dbguard__").rglob("*.plan"):
        path.unlink()
    result = app.runpytest(
        "--dbguard-plans", "--dbguard-update", "--dbguard-json=report.json", *args
    )
    outcomes = result.parseoutcomes()
    # the inner workers share one database, each in its own schema (see plan_conftest.py):
    # index definitions name it
    text = re.sub(r"\b(?:gw\d+|public)\.", "", (app.path / "report.json").read_text())
    return outcomes, snapshot_files(app.path), json.loads(text)


@pytest.mark.parametrize("workers", ["2", "4"])
def test_parallel_runs_match_the_serial_run(plan_app: pytest.Pytester, workers: str) -> None:
    plan_app.makepyfile(test_suite=SUITE)
    serial = run(plan_app, "-p", "no:xdist")
    parallel = run(plan_app, "-n", workers)
    assert serial[0] == parallel[0] == {"passed": 6, "failed": 4}
    assert len(serial[1]) == 10
    assert parallel[1] == serial[1]
    assert parallel[2]["findings"] == serial[2]["findings"]
    assert parallel[2]["summary"] == serial[2]["summary"]


def test_orphans_under_xdist(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_suite=SUITE)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-n", "2")
    orphan = plan_app.path / "__dbguard__/test_suite/test_gone.plan"
    orphan.write_text((plan_app.path / "__dbguard__/test_suite/test_loop.plan").read_text())
    partial = plan_app.runpytest(
        "--dbguard-plans", "--dbguard-update", "-n", "2", "test_suite.py::test_loop"
    )
    partial.stdout.no_fnmatch_line("*removed*")
    assert orphan.exists()
    full = plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-n", "2", "-k", "items")
    full.stdout.fnmatch_lines(
        [
            "dbguard: removed 1 plan snapshot(s) of tests that no longer exist:",
            "  __dbguard__/test_suite/test_gone.plan",
        ]
    )
    assert not orphan.exists()


def test_summary_under_xdist(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_suite=SUITE)
    result = plan_app.runpytest("-n", "2")
    result.assert_outcomes(passed=6, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*= dbguard =*",
            "10 tests measured, * statements captured (14 counted against budgets)",
            "Findings: 2 missing_index (fail), 1 nplusone (fail), 1 query_budget (fail)",
        ]
    )
