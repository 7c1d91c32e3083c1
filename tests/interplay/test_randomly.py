"""pytest-randomly: the same outcomes and the same findings whatever order the tests run in.

The order matters to the plugin: EXPLAIN verdicts that found nothing are reused by the next
tests while the DDL between tests stays the same. Here an index comes and goes with a fixture
around a schema built once per session, so a verdict reused across the wrong tests would show.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

SESSION_SCHEMA = """
import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from models import Base, seed


@pytest.fixture(scope="session")
def engine():
    engine = create_engine(os.environ["DBGUARD_INNER_URL"])
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session


@pytest.fixture
def email_index(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_users_email ON users (email)"))
    yield
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_users_email"))
"""

SUITE = """
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from models import Item, User

LOOKUP = text("SELECT id FROM users WHERE email = :email")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_lookup_with_index(engine, email_index, n):
    with engine.connect() as conn:
        conn.execute(LOOKUP, {"email": f"user{n}@example.com"}).all()


@pytest.mark.parametrize("n", [1, 2])
def test_lookup_without_index(engine, n):
    with engine.connect() as conn:
        conn.execute(LOOKUP, {"email": f"user{n}@example.com"}).all()


def test_lazy_loop(session):
    for user in session.scalars(select(User)):
        len(user.items)


@pytest.mark.num_queries(2)
def test_eager(session):
    for user in session.scalars(select(User).options(selectinload(User.items))):
        len(user.items)


@pytest.mark.max_queries(1)
def test_over_budget(session):
    session.scalars(select(User)).all()
    session.scalars(select(Item).where(Item.id < 3)).all()
"""

EXPECTED = {
    "test_suite.py::test_lookup_with_index[1]": "passed",
    "test_suite.py::test_lookup_with_index[2]": "passed",
    "test_suite.py::test_lookup_with_index[3]": "passed",
    "test_suite.py::test_lookup_without_index[1]": "failed",
    "test_suite.py::test_lookup_without_index[2]": "failed",
    "test_suite.py::test_lazy_loop": "failed",
    "test_suite.py::test_eager": "passed",
    "test_suite.py::test_over_budget": "failed",
}


def run(app: pytest.Pytester, *args: str) -> tuple[list[str], dict[str, str], list[Any]]:
    """The order the tests ran in, each test's outcome, and the report's findings."""
    result = app.runpytest("-v", "-p", "no:cacheprovider", "--dbguard-json=report.json", *args)
    order = re.findall(r"^(test_suite\.py::\S+) (?:PASSED|FAILED)", result.stdout.str(), re.M)
    report = json.loads((app.path / "report.json").read_text())
    outcomes = {test["nodeid"]: test["outcome"] for test in report["tests"]}
    for finding in report["findings"]:
        # Estimated costs on a test table follow its statistics, which the index fixture's
        # CREATE INDEX updates: they depend on the order; verdicts, plans and fixes must not.
        finding["details"].pop("cost_before", None)
        finding["details"].pop("cost_after", None)
    return order, outcomes, report["findings"]


@pytest.mark.usefixtures("pg_db")
def test_outcomes_and_findings_do_not_depend_on_the_order(app: pytest.Pytester) -> None:
    app.makeconftest(SESSION_SCHEMA)
    app.makepyfile(test_suite=SUITE)
    file_order = run(app, "-p", "no:randomly")
    assert file_order[0] == list(EXPECTED)
    assert file_order[1] == EXPECTED
    kinds = sorted((finding["kind"], tuple(finding["tests"])) for finding in file_order[2])
    assert kinds == [
        (
            "missing_index",
            (
                "test_suite.py::test_lookup_without_index[1]",
                "test_suite.py::test_lookup_without_index[2]",
            ),
        ),
        ("nplusone", ("test_suite.py::test_lazy_loop",)),
        ("query_budget", ("test_suite.py::test_over_budget",)),
    ]
    orders = {tuple(file_order[0])}
    for seed in ("1", "2", "3"):
        order, outcomes, findings = run(app, "-p", "randomly", f"--randomly-seed={seed}")
        orders.add(tuple(order))
        assert sorted(order) == sorted(EXPECTED)
        assert outcomes == EXPECTED, f"seed {seed}"
        assert findings == file_order[2], f"seed {seed}"
    assert len(orders) >= 3  # the seeds did shuffle the tests


@pytest.mark.usefixtures("pg_db")
def test_the_failure_messages_are_those_of_a_run_in_file_order(app: pytest.Pytester) -> None:
    app.makeconftest(SESSION_SCHEMA)
    app.makepyfile(test_suite=SUITE)
    result = app.runpytest("-p", "randomly", "--randomly-seed=7")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(["Using --randomly-seed=7"])
    result.stdout.fnmatch_lines(
        [
            "*Missing index: no index serves users (email)",
            "*at test_suite.py:19 in test_lookup_without_index",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: User.items was lazy-loaded for 5 User objects, one query each",
            "*at test_suite.py:24 in test_lazy_loop",
        ]
    )
    result.stdout.fnmatch_lines(["*Expected at most 1 query, 2 were run*"])
