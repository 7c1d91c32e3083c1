"""The same checks for async code (``AsyncSession``), with psycopg and with asyncpg.

pytest-dbguard captures async engines through their sync engine: budgets, N+1 detection and
call sites work unchanged. The tests are plain sync tests that run the async code with
``asyncio.run`` (see the ``run_async`` fixture in conftest.py): no pytest-asyncio needed.
"""

from __future__ import annotations

import pytest
from pytest_dbguard import DBGuard, DBGuardFailure, num_queries

from research_app import async_services


@num_queries(2)
def test_async_digest_with_selectinload(run_async) -> None:
    """Two queries, as in the sync version."""
    digest = run_async(async_services.research_digest)
    assert len(digest) == 8


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: N+1 — ResearchItem.prompts awaited once per item; fix: selectinload",
)
@pytest.mark.finding(
    r"N\+1 query: ResearchItem\.prompts was lazy-loaded for 8 ResearchItem objects",
    r"at research_app/async_services\.py:\d+",
    r"selectinload\(ResearchItem\.prompts\)",
)
def test_async_digest_lazy_loads_prompts_per_item(run_async) -> None:
    """``await item.awaitable_attrs.prompts`` in a loop: the async N+1."""
    run_async(async_services.research_digest_lazy)


def test_async_call_sites_point_at_the_awaiting_line(run_async, dbguard: DBGuard) -> None:
    """The driver runs in a greenlet, away from the coroutine; the call site is still the
    line of ``async_services.py`` that awaited the query."""
    run_async(async_services.research_digest)
    sites = {str(query.call_site) for query in dbguard.queries if query.counted}
    assert len(sites) == 1
    assert sites.pop().startswith("research_app/async_services.py:")
