"""pytest-asyncio (asyncio_mode = auto): async tests on an ``AsyncSession`` fixture get the same
budgets, N+1 and index verdicts as sync tests, with call sites on the awaiting lines."""

from __future__ import annotations

import pytest

MODELS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    items: Mapped[list["Item"]] = relationship(back_populates="owner", order_by="Item.id")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[User] = relationship(back_populates="items")
"""

CONFTEST = """
import os

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from models import Base, Item, User


@pytest.fixture
async def engine():
    engine = create_async_engine(os.environ["DBGUARD_INNER_URL"])
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(insert(User), [{"id": i, "email": f"user{i}@example.com"} for i in range(1, 6)])
        await conn.execute(
            insert(Item), [{"user_id": u, "title": f"item {u}.{n}"} for u in range(1, 6) for n in range(3)]
        )
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine):
    async with AsyncSession(engine) as session:
        yield session
"""

INI = """
[pytest]
dbguard_judge_test_queries = true
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

TESTS = """
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from models import Item, User


async def test_lazy_loop(session):
    for user in (await session.scalars(select(User))).all():
        await user.awaitable_attrs.items


@pytest.mark.num_queries(2)
async def test_eager(session):
    users = (await session.scalars(select(User).options(selectinload(User.items)))).all()
    assert sum(len(user.items) for user in users) == 15


@pytest.mark.max_queries(1)
async def test_over_budget(session):
    (await session.scalars(select(User))).all()
    (await session.scalars(select(Item).where(Item.id < 3))).all()


async def test_unindexed_lookup(session):
    await session.execute(text("SELECT id FROM users WHERE email = :email"), {"email": "user1@example.com"})


async def test_block_budget(session, dbguard):
    with dbguard.num_queries(1):
        (await session.scalars(select(User))).all()
    selects = [query for query in dbguard.queries if query.kind == "select"]
    assert [str(query.call_site) for query in selects] == ["test_async.py:31 in test_block_budget"]
"""


@pytest.mark.usefixtures("pg_db")
def test_async_tests_get_the_same_verdicts(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(models=MODELS, conftest=CONFTEST, test_async=TESTS)
    # by its module: "-p asyncio" would also name the standard library's asyncio
    result = pytester.runpytest("-p", "pytest_asyncio.plugin")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*N+1 query: User.items was lazy-loaded for 5 User objects, one query each",
            "*at test_async.py:10 in test_lazy_loop",
            "*select(User).options(selectinload(User.items))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*Expected at most 1 query, 2 were run*",
            "*1.*SELECT ... FROM users",
            "*at test_async.py:21 in test_over_budget",
            "*2.*SELECT ... FROM items WHERE items.id < ?*",
            "*at test_async.py:22 in test_over_budget",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*Missing index: no index serves users (email)",
            "*at test_async.py:26 in test_unindexed_lookup",
        ]
    )
