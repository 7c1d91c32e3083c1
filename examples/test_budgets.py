"""Query budgets: how many SQL statements a piece of code may run.

Three ways to set one: the ``@max_queries(n)`` / ``@num_queries(n)`` decorators, the
``@pytest.mark.max_queries(n)`` / ``@pytest.mark.num_queries(n)`` markers (the same thing), and
``with dbguard.max_queries(n):`` around part of a test. Tests without a budget of their own get
``dbguard_max_queries = 10`` from pytest.ini.

The tests marked ``xfail(strict=True, raises=DBGuardFailure)`` are demonstrations: they must
fail, through a pytest-dbguard verdict (``DBGuardFailure``, what the plugin raises), and their
``reason`` says what pytest-dbguard reports. Run ``pytest examples --runxfail`` to see the full
messages.
"""

from __future__ import annotations

import pytest
from pytest_dbguard import DBGuard, DBGuardFailure, max_queries, num_queries
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from research_app import services


@max_queries(4)
def test_dashboard_fits_its_budget(session: Session) -> None:
    """The home page runs 4 queries (2 for the digest, 1 per other panel): within 4."""
    page = services.dashboard(session)
    assert len(page["digest"]) == 8


@max_queries(3)
@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: budget overrun — 4 queries run, at most 3 allowed",
)
@pytest.mark.finding(
    r"Expected at most 3 queries, 4 were run \(@pytest\.mark\.max_queries\(3\)\)",
    r"at research_app/services\.py:\d+ in \w+",
)
def test_dashboard_over_a_tighter_budget(session: Session) -> None:
    """The same page against a budget of 3: the failure lists the 4 statements."""
    services.dashboard(session)


@pytest.mark.num_queries(2)
def test_publish_is_one_select_and_one_update(session: Session) -> None:
    """``num_queries`` wants exactly n. BEGIN and COMMIT are recorded but not counted."""
    services.publish(session, 3)


@num_queries(1)
@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: num_queries mismatch — 2 queries run, exactly 1 expected",
)
@pytest.mark.finding(r"Expected exactly 1 query, 2 were run \(@pytest\.mark\.num_queries\(1\)\)")
def test_digest_pinned_to_one_query(session: Session) -> None:
    """An exact count catches changes both ways: here the digest runs 2 queries, not 1."""
    services.research_digest(session)


@num_queries(1, kinds="update")
def test_publish_runs_exactly_one_update(session: Session) -> None:
    """``kinds=`` counts only some statements: exactly one UPDATE, whatever the SELECTs."""
    services.publish(session, 5)


@num_queries(1)
def test_batch_insert_is_one_query(session: Session) -> None:
    """Three rows sent with one ``executemany`` are one statement."""
    services.record_prompts(
        session, 1, [("Compare", "gpt-4o"), ("Cite", "gpt-4o"), ("List", "llama-3-70b")]
    )


def test_budget_for_one_block(engine: Engine, session: Session, dbguard: DBGuard) -> None:
    """``with dbguard.max_queries(n):`` counts only its block; the test's other queries are
    covered by the default budget (dbguard_max_queries = 10 in pytest.ini)."""
    services.publish(session, 4)  # not in the block below
    with engine.connect() as conn, dbguard.max_queries(1):
        counts = services.prompt_counts(conn)
    with dbguard.num_queries(2):
        rows = services.export_rows(session, 2)
    assert counts[1] == 2
    assert len(rows) == 2


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: block budget overrun — 4 queries in `with dbguard.max_queries(1):`",
)
@pytest.mark.finding(
    r"Expected at most 1 query, 4 were run \(dbguard\.max_queries\(1\) at test_budgets\.py:\d+\)"
)
def test_block_over_its_budget(session: Session, dbguard: DBGuard) -> None:
    """The failure names the block (file and line of the ``with``) and lists its queries."""
    with dbguard.max_queries(1):
        services.export_rows(session, 1)
        services.publish(session, 3)
