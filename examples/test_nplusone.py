"""N+1 queries: one query per row of an earlier result, and their fixes.

pytest-dbguard sees two kinds: ORM lazy loads (``item.prompts`` touched in a loop), named after
the relationship with the eager load that fixes them, and Core or text SELECTs run again and
again from one line with different parameters (3 times or more: dbguard_nplusone_threshold).

Each ``xfail`` demonstration is followed by its fix, which passes. Run
``pytest examples --runxfail`` to see the full messages.
"""

from __future__ import annotations

import pytest
from pytest_dbguard import DBGuard, DBGuardFailure, num_queries
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from research_app import services


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: N+1 — ResearchItem.prompts lazy-loaded once per item; "
    "fix: selectinload",
)
def test_digest_lazy_loads_prompts_per_item(session: Session) -> None:
    """One-to-many: touching ``item.prompts`` in a loop runs one SELECT per item."""
    services.research_digest_lazy(session)


@num_queries(2)
def test_digest_with_selectinload(session: Session) -> None:
    """The fix: ``selectinload`` loads all the prompts in one more query, whatever the count."""
    digest = services.research_digest(session)
    assert digest[0] == ("Hail damage claims in Texas, 2023", 2)


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: N+1 — ResearchItem.owner lazy-loaded once per owner; fix: joinedload",
)
def test_cards_lazy_load_owners(session: Session) -> None:
    """Many-to-one: ``item.owner`` in a loop runs one SELECT per owner not yet loaded."""
    services.item_cards_lazy(session, "auto")


@num_queries(1)
@pytest.mark.snapshot_plans
def test_cards_with_joinedload(session: Session) -> None:
    """The fix: ``joinedload`` brings the owners in the same query (a LEFT OUTER JOIN).

    ``snapshot_plans``: the plan of that query is also checked against its golden file,
    ``__dbguard__/test_nplusone/test_cards_with_joinedload.plan`` (a changed join or a lost
    index shows there as a diff: see test_indexes_and_plans.py)."""
    cards = services.item_cards(session, "auto")
    assert cards[0] == "Windshield claims after road salt (Ada)"


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: N+1 — the same COUNT query once per item, from one line; "
    "fix: one GROUP BY query",
)
def test_prompt_counts_one_query_per_item(engine: Engine) -> None:
    """Core, no ORM: a COUNT per research item, sent from the same line with a new id."""
    with engine.connect() as conn:
        services.prompt_counts_per_item(conn)


@num_queries(1)
def test_prompt_counts_with_group_by(engine: Engine) -> None:
    """The fix: one GROUP BY query."""
    with engine.connect() as conn:
        counts = services.prompt_counts(conn)
    assert sum(counts.values()) == 17


@pytest.mark.allow_nplusone(reason="a nightly export: 8 small queries are fine here")
def test_accepted_nplusone_with_a_marker(session: Session) -> None:
    """``@pytest.mark.allow_nplusone`` accepts N+1 patterns in the whole test. Budgets still
    apply (dbguard_max_queries = 10 from pytest.ini: this test runs 9)."""
    services.research_digest_lazy(session)


def test_accepted_nplusone_in_a_block(session: Session, engine: Engine, dbguard: DBGuard) -> None:
    """``with dbguard.allow_nplusone():`` accepts them in one block only; the rest of the test
    is still checked."""
    with dbguard.allow_nplusone():
        services.item_cards_lazy(session, "property")
    with engine.connect() as conn:
        services.prompt_counts(conn)
