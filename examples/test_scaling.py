"""Scale-factor assertions and unused eager loads.

``dbguard.assert_constant_queries(populate, run, session=...)`` runs ``run`` after
``populate(n)`` for each scale factor (2 and 5 by default), each scale's rows rolled back to a
savepoint on ``session``, and fails if the number of queries changes with ``n``: an N+1 that
two rows of test data would hide. ``assert_linear_queries(..., slope=1)`` accepts at most
``slope`` more queries per unit of scale. The markers ``constant_queries`` / ``linear_queries``
do the same with the whole test body.

Unused eager loads: a ``selectinload`` / ``joinedload`` / ``subqueryload`` whose relationship
the test never reads (pytest.ini makes them fail here; the default is a warning).
"""

from __future__ import annotations

import pytest
from pytest_dbguard import DBGuard, DBGuardFailure, max_queries
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from research_app import async_services, services
from research_app.models import Prompt, ResearchItem


def add_items(session: Session, n: int) -> None:
    """populate: ``n`` more research items of Ada's, two prompts each."""
    session.add_all(
        ResearchItem(
            id=100 + i,  # the seed's ids are explicit: its sequence still starts at 1
            owner_id=1,
            title=f"Generated study {i}",
            line_of_business="auto",
            prompts=[Prompt(text="Summarise", model="gpt-4o") for _ in range(2)],
        )
        for i in range(n)
    )


def test_digest_is_constant(session: Session, dbguard: DBGuard) -> None:
    """``selectinload``: two queries however many items there are."""
    counts = dbguard.assert_constant_queries(
        lambda n: add_items(session, n), lambda: services.research_digest(session), session=session
    )
    assert counts == {2: 2, 5: 2}
    # every scale's rows were rolled back
    assert session.scalar(select(func.count()).select_from(ResearchItem)) == 8


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: the query count grows with the data — a lazy load per item",
)
@pytest.mark.finding(
    r"Query count grows with the data: .*ran 11 at scale 2 and 14 at scale 5",
    r"10 → 13x  SELECT \.\.\. FROM prompts",
    r"at research_app/services\.py:\d+ in research_digest_lazy",
    r"a lazy load of ResearchItem\.prompts: .*"
    r"select\(ResearchItem\)\.options\(selectinload\(ResearchItem\.prompts\)\)",
)
def test_lazy_digest_grows_with_the_data(session: Session, dbguard: DBGuard) -> None:
    dbguard.assert_constant_queries(
        lambda n: add_items(session, n),
        lambda: services.research_digest_lazy(session),
        session=session,
    )


@max_queries(20)  # the largest scale's run counts in the test: 1 + 13 items
def test_lazy_digest_is_at_most_linear(session: Session, dbguard: DBGuard) -> None:
    """Accepting one query per row on purpose (a nightly export, say): at most linear."""
    counts = dbguard.assert_linear_queries(
        lambda n: add_items(session, n),
        lambda: services.research_digest_lazy(session),
        session=session,
        slope=1,
    )
    assert counts == {2: 11, 5: 14}


@pytest.mark.constant_queries(populate=add_items, scales=(1, 4))
def test_cards_marker(session: Session) -> None:
    """The marker form: the test body runs at each scale, after ``add_items(session, n)``."""
    assert services.item_cards(session, "auto")


def test_async_digest_is_constant(run_async, dbguard: DBGuard) -> None:
    """Async sessions: ``await dbguard.assert_constant_queries_async(...)``."""

    async def work(session):
        return await dbguard.assert_constant_queries_async(
            lambda n: add_items(session, n),
            lambda: async_services.research_digest(session),
            session=session,
        )

    assert run_async(work) == {2: 2, 5: 2}


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: unused eager load — prompts loaded with selectinload, never read",
)
@pytest.mark.finding(
    r"Unused eager load: ResearchItem\.prompts was loaded with "
    r"selectinload\(ResearchItem\.prompts\) but never read",
    r"at research_app/services\.py:\d+ in item_titles_overfetching",
    r"Fix: remove selectinload\(ResearchItem\.prompts\) from that query",
)
def test_titles_load_prompts_nobody_reads(session: Session) -> None:
    assert len(services.item_titles_overfetching(session)) == 8


def test_titles_without_the_eager_load(session: Session) -> None:
    assert len(services.item_titles(session)) == 8


def test_digest_reads_what_it_loads(session: Session) -> None:
    """``research_digest`` reads ``item.prompts``: its ``selectinload`` is used."""
    assert services.research_digest(session)[0][1] == 2
