"""pytest-rerunfailures: a rerun test is measured by its last run, its budget is per run, and
the reports name each finding once however often the test ran."""

from __future__ import annotations

import json

import pytest

SUITE = """
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Item, User

RUNS = {}


@pytest.fixture
def run_number(request):
    RUNS[request.node.name] = RUNS.get(request.node.name, 0) + 1
    return RUNS[request.node.name]


def test_busy_then_quiet(session, run_number):
    if run_number == 1:
        session.scalars(select(Item)).all()
        session.scalars(select(Item).where(Item.id < 3)).all()
        session.scalars(select(Item).where(Item.id > 3)).all()
        assert False, "flaky"
    session.scalars(select(User)).all()


@pytest.mark.max_queries(3)
def test_budget_is_per_run(session, run_number):
    session.scalars(select(User)).all()
    session.scalars(select(Item)).all()
    assert run_number > 1, "flaky"


def test_nplusone_only_on_the_first_run(session, run_number):
    query = select(User)
    if run_number > 1:
        query = query.options(selectinload(User.items))
    for user in session.scalars(query):
        len(user.items)


def test_nplusone_on_every_run(session, run_number):
    for user in session.scalars(select(User)):
        len(user.items)
"""


@pytest.mark.usefixtures("pg_db")
def test_reruns_are_measured_by_their_last_run(app: pytest.Pytester) -> None:
    app.makepyfile(test_suite=SUITE)
    result = app.runpytest("--reruns=2", "--dbguard-json=report.json", "--dbguard-report=report.md")
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes["rerun"]) == (3, 1, 5)
    report = json.loads((app.path / "report.json").read_text())
    tests = {test["nodeid"].split("::")[1]: test for test in report["tests"]}
    assert {name: test["outcome"] for name, test in tests.items()} == {
        "test_busy_then_quiet": "passed",
        "test_budget_is_per_run": "passed",
        "test_nplusone_only_on_the_first_run": "passed",
        "test_nplusone_on_every_run": "failed",
    }
    assert tests["test_busy_then_quiet"]["counted"] == 1  # not 3, nor 4
    assert tests["test_budget_is_per_run"]["counted"] == 2  # not 4 for two runs
    assert tests["test_nplusone_only_on_the_first_run"]["findings"] == 0
    assert [(f["kind"], f["tests"]) for f in report["findings"]] == [
        ("nplusone", ["test_suite.py::test_nplusone_on_every_run"])
    ]
    assert report["summary"]["tests"] == 4
    markdown = (app.path / "report.md").read_text()
    assert markdown.count("N+1 query: User.items was lazy-loaded") == 1
    result.stdout.fnmatch_lines(
        [
            "4 tests measured, * statements captured (* counted against budgets)",
            "*Findings: 1 nplusone (fail)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: User.items was lazy-loaded for 5 User objects, one query each",
            "*at test_suite.py:42 in test_nplusone_on_every_run",
        ]
    )
