"""Fixtures for the examples: a fresh PostgreSQL database per test, with the schema and a few
analysts, research items and prompts.

``database_url`` comes from ``testing/dbguard_pg.py`` (``-p dbguard_pg`` in pytest.ini): a
throwaway PostgreSQL 18, or the server named by DBGUARD_TEST_DATABASE_URL. Everything these
fixtures run happens during test *setup*, which pytest-dbguard does not count: a test's budget
is about the code under test, not about building its data.

The golden plan snapshots in ``__dbguard__/`` were taken on PostgreSQL 18: pytest.ini says so
(``dbguard_plans_postgresql = 18``), and on another major version their plans are not checked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
from pytest_dbguard import DBGuardFailure
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from research_app.models import Base, Prompt, ResearchItem, User

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "finding(*patterns): this demonstration must fail with a pytest-dbguard finding "
        "whose message matches every pattern (regular expressions)",
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """A demonstration (``xfail(strict=True, raises=DBGuardFailure)``) passes only when it fails
    with *its* finding: a failure whose message misses one of its ``finding`` patterns is
    turned into an AssertionError, which the xfail does not accept."""
    mark = item.get_closest_marker("finding")
    if mark is not None and call.when == "call" and call.excinfo is not None:
        problem = _unexpected(call.excinfo, mark.args)
        if problem:
            try:
                raise AssertionError(problem)
            except AssertionError:
                call.excinfo = pytest.ExceptionInfo.from_current()
    return (yield)


def _unexpected(
    excinfo: pytest.ExceptionInfo[BaseException] | None, patterns: tuple[str, ...]
) -> str:
    if excinfo is None or not isinstance(excinfo.value, DBGuardFailure):
        return f"expected a pytest-dbguard finding matching {patterns}, got {excinfo!r}"
    message = str(excinfo.value)
    missing = [pattern for pattern in patterns if not re.search(pattern, message)]
    if missing:
        return f"the finding does not match {missing}:\n{message}"
    return ""


USERS = [
    {"id": 1, "email": "ada@insurer.example", "name": "Ada", "team": "claims"},
    {"id": 2, "email": "grace@insurer.example", "name": "Grace", "team": "underwriting"},
    {"id": 3, "email": "alan@insurer.example", "name": "Alan", "team": "pricing"},
]
ITEMS = [  # id, owner, title, status, line of business
    (1, 1, "Hail damage claims in Texas, 2023", "published", "property"),
    (2, 1, "Windshield claims after road salt", "in_review", "auto"),
    (3, 1, "Water leak fraud signals", "draft", "property"),
    (4, 1, "Total-loss thresholds by state", "draft", "auto"),
    (5, 2, "Flood exclusions in homeowner policies", "in_review", "property"),
    (6, 2, "Telematics discounts and loss ratios", "published", "auto"),
    (7, 3, "Wildfire pricing in California", "draft", "property"),
    (8, 3, "Young driver surcharge benchmarks", "in_review", "auto"),
]
MODELS = ["gpt-4o", "claude-sonnet", "llama-3-70b"]


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(User), USERS)
        conn.execute(
            insert(ResearchItem),
            [
                {
                    "id": id_,
                    "owner_id": owner,
                    "title": title,
                    "status": status,
                    "line_of_business": lob,
                }
                for id_, owner, title, status, lob in ITEMS
            ],
        )
        conn.execute(
            insert(Prompt),
            [
                {
                    "research_item_id": item[0],
                    "text": f"Summarise: {item[2]} (#{n})",
                    "model": MODELS[n % len(MODELS)],
                }
                for item in ITEMS
                for n in range(1 + item[0] % 3)  # 1 to 3 prompts per item
            ],
        )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A sync engine on a fresh database, with the schema created and the data seeded."""
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture(params=["psycopg", "asyncpg"])
def run_async(
    request: pytest.FixtureRequest,
    engine: Engine,  # noqa: ARG001 (the schema and the seed rows the async tests read)
    database_url: str,
) -> Callable[[Callable[[AsyncSession], Awaitable[T]]], T]:
    """``run_async(work)`` runs ``await work(session)`` with an AsyncSession on the same
    (seeded) database, in ``asyncio.run``: no pytest-asyncio needed.

    Each test using it runs twice: with psycopg 3 (the ``postgresql+psycopg://`` URL works for
    async engines as it is) and with asyncpg (``postgresql+asyncpg://``).
    """
    url = database_url.replace("+psycopg:", f"+{request.param}:", 1)

    def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def main() -> T:
            async_engine = create_async_engine(url)
            try:
                async with AsyncSession(async_engine) as session:
                    return await work(session)
            finally:
                await async_engine.dispose()

        return asyncio.run(main())

    return run
