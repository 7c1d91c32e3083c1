"""Scale-factor assertions: a block run at several scale factors, rolled back between them."""

from __future__ import annotations

import pytest

SCALE = """
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from models import Item, User


def add_users(session, n):
    for i in range(n):
        session.add(User(id=100 + i, email=f"new{i}@example.com",
                         items=[Item(title="a"), Item(title="b")]))


def titles_lazy(session):
    return [item.title for user in session.scalars(select(User)) for item in user.items]


def titles_eager(session):
    users = session.scalars(select(User).options(selectinload(User.items)))
    return [item.title for user in users for item in user.items]


def test_constant_passes(session, dbguard):
    counts = dbguard.assert_constant_queries(
        lambda n: add_users(session, n), lambda: titles_eager(session), session=session
    )
    assert counts == {2: 2, 5: 2}
    assert session.scalar(select(func.count()).select_from(User)) == 5


def test_constant_fails_on_lazy_loads(session, dbguard):
    dbguard.assert_constant_queries(
        lambda n: add_users(session, n), lambda: titles_lazy(session), session=session
    )


def test_linear_passes_with_slope_one(session, dbguard):
    counts = dbguard.assert_linear_queries(
        lambda n: add_users(session, n), lambda: titles_lazy(session), session=session, slope=1
    )
    assert counts == {2: 8, 5: 11}


def test_linear_fails_with_slope_zero_point_five(session, dbguard):
    dbguard.assert_linear_queries(
        lambda n: add_users(session, n), lambda: titles_lazy(session), session=session,
        slope=0.5, scales=(1, 3, 5),
    )


@pytest.mark.constant_queries(populate=add_users, scales=(2, 4))
def test_marker_constant(session):
    assert titles_eager(session)


@pytest.mark.constant_queries(populate=add_users)
def test_marker_constant_fails(session):
    assert titles_lazy(session)


@pytest.mark.linear_queries(populate=add_users, slope=1, scales=(2, 4))
def test_marker_linear(session):
    assert titles_lazy(session)
"""


@pytest.mark.usefixtures("pg_db")
def test_constant_and_linear_pass_and_fail_with_the_statements_that_grew(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(test_scale_sync=SCALE)
    result = app.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ test_constant_fails_on_lazy_loads _*",
            "Query count grows with the data: expected the same number of queries at every "
            "scale, ran 8 at scale 2 and 11 at scale 5",
            "  (dbguard.assert_constant_queries(scales=(2, 5)) at test_scale_sync.py:31; "
            "populate and the warm-up run are not counted)",
            "Statements whose count changed (runs at scale 2 → 5):",
            "  1.  7 → 10x  SELECT ... FROM items WHERE ?* = items.user_id*",
            "      at test_scale_sync.py:14 in titles_lazy",
            "      a lazy load of User.items: load it with the query that loads the User objects: "
            "select(User).options(selectinload(User.items))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_linear_fails_with_slope_zero_point_five _*",
            "Query count grows faster than the data: expected at most 0.5 more per unit of "
            "scale (slope), ran 7 at scale 1, 9 at scale 3 and 11 at scale 5 (1 more per unit)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_marker_constant_fails _*",
            "Query count grows with the data:*ran 8 at scale 2 and 11 at scale 5",
            "  (@pytest.mark.constant_queries(populate=add_users); populate and the warm-up run are not "
            "counted)",
        ]
    )


@pytest.mark.usefixtures("pg_db")
def test_the_database_and_the_session_are_as_before(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_scale_rollback="""
        from sqlalchemy import func, inspect, select, text
        from sqlalchemy.orm import selectinload
        from models import Item, User


        def add_users(session, n):
            session.add_all([User(id=100 + i, email=f"new{i}@example.com") for i in range(n)])


        def test_rolled_back(session, dbguard):
            first = session.get(User, 1)
            assert first.email == "user1@example.com"
            assert "items" not in inspect(first).dict  # not loaded yet
            session.connection()  # the transaction began before the assertion
            in_transaction = session.in_transaction()
            before = set(session.identity_map.keys())

            def run():
                users = session.scalars(select(User).options(selectinload(User.items))).all()
                users[0].email = "changed@example.com"  # a change the block makes and flushes
                session.flush()

            dbguard.assert_constant_queries(lambda n: add_users(session, n), run, session=session)
            assert set(session.identity_map.keys()) == before  # no ghost of a rolled-back row
            assert first.email == "user1@example.com"
            assert "items" not in inspect(first).dict  # loaded by the block: unloaded again
            assert not inspect(first).expired_attributes
            assert session.in_transaction() == in_transaction
            assert session.info == {}
            assert session.scalar(select(func.count()).select_from(User)) == 5
            statements = [q.sql for q in dbguard.queries]
            assert statements[-1].startswith("SELECT count(*)")

        def test_an_error_in_the_block_is_the_one_raised(session, dbguard):
            import pytest
            from sqlalchemy.exc import IntegrityError

            def run():
                session.add(User(id=1, email="duplicate"))
                session.flush()

            with pytest.raises(IntegrityError):
                dbguard.assert_constant_queries(lambda n: add_users(session, n), run, session=session)
            assert session.scalar(select(func.count()).select_from(User)) == 5  # still usable

        def test_after(engine):
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM users")) == 5
        """
    )
    app.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


@pytest.mark.usefixtures("pg_db")
def test_bad_arguments_are_usage_errors_naming_the_test(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_scale_usage="""
        import pytest
        from sqlalchemy.orm import Session


        def populate(session, n):
            pass


        def test_one_scale(session, dbguard):
            dbguard.assert_constant_queries(lambda n: None, lambda: None, session=session, scales=(2,))

        def test_not_callable(session, dbguard):
            dbguard.assert_constant_queries(None, lambda: None, session=session)

        def test_no_session(session, dbguard):
            dbguard.assert_constant_queries(lambda n: None, lambda: None, session="session")

        def test_coroutine(session, dbguard):
            async def run():
                pass
            dbguard.assert_constant_queries(lambda n: None, run, session=session)

        def test_pending(session, dbguard):
            from models import User
            session.add(User(id=99, email="x"))
            dbguard.assert_constant_queries(lambda n: None, lambda: None, session=session)

        def test_commit_in_block(session, dbguard):
            dbguard.assert_constant_queries(lambda n: None, session.commit, session=session)

        @pytest.mark.constant_queries(populate=populate, scales=(3, 2))
        def test_marker_scales(session):
            pass

        @pytest.mark.linear_queries(populate=populate, session="conn")
        def test_marker_session(session):
            pass
        """
    )
    result = app.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=6, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*UsageError: test_scale_usage.py::test_one_scale: dbguard.assert_constant_queries(): "
            "scales needs at least two scale factors to compare, got (2,)",
            "*UsageError: test_scale_usage.py::test_not_callable: "
            "dbguard.assert_constant_queries(): populate must be a callable, not None",
            "*UsageError: test_scale_usage.py::test_no_session: *session= must be the SQLAlchemy "
            "Session, AsyncSession, Connection or AsyncConnection that populate writes through*",
            "*UsageError: test_scale_usage.py::test_coroutine: *run is a coroutine function: use "
            "`await dbguard.assert_constant_queries_async(...)` in async code",
            "*UsageError: test_scale_usage.py::test_pending: *the session has 1 pending change(s)*",
            "*UsageError: test_scale_usage.py::test_commit_in_block: *the savepoint of the "
            "warm-up run was ended by the code under test*",
            "*usage error: test_scale_usage.py::test_marker_scales: "
            "@pytest.mark.constant_queries(populate=populate, scales=(3, 2)): scales must increase*",
            "*usage error: test_scale_usage.py::test_marker_session: "
            "@pytest.mark.linear_queries(populate=populate, session='conn'): session='conn' must name a "
            "fixture the test requests*",
        ]
    )


@pytest.mark.usefixtures("pg_db")
def test_async_sessions(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_scale_async="""
        import asyncio
        import os

        from sqlalchemy import func, select
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
        from sqlalchemy.orm import selectinload
        from models import Item, User


        def with_session(work, driver):
            async def main():
                url = os.environ["DBGUARD_INNER_URL"].replace("+psycopg:", f"+{driver}:", 1)
                engine = create_async_engine(url)
                try:
                    async with AsyncSession(engine) as session:
                        return await work(session)
                finally:
                    await engine.dispose()
            return asyncio.run(main())


        async def populate(session, n):
            session.add_all([User(id=100 + i, email="x", items=[Item(title="t")]) for i in range(n)])


        async def eager(session):
            users = await session.scalars(select(User).options(selectinload(User.items)))
            return [item.title for user in users for item in user.items]


        async def lazy(session):
            users = (await session.scalars(select(User))).all()
            return await session.run_sync(lambda _: [len(user.items) for user in users])


        def test_constant(dbguard, engine):
            async def work(session):
                counts = await dbguard.assert_constant_queries_async(
                    lambda n: populate(session, n), lambda: eager(session), session=session
                )
                assert counts == {2: 2, 5: 2}
                assert await session.scalar(select(func.count()).select_from(User)) == 5
            for driver in ("psycopg", "asyncpg"):
                with_session(work, driver)


        def test_constant_fails(dbguard, engine):
            async def work(session):
                await dbguard.assert_constant_queries_async(
                    lambda n: populate(session, n), lambda: lazy(session), session=session
                )
            with_session(work, "asyncpg")


        def test_linear(dbguard, engine):
            async def work(session):
                return await dbguard.assert_linear_queries_async(
                    lambda n: populate(session, n), lambda: lazy(session), session=session
                )
            assert with_session(work, "psycopg") == {2: 8, 5: 11}


        def test_sync_method_with_async_session(dbguard, engine):
            async def work(session):
                dbguard.assert_constant_queries(lambda n: None, lambda: None, session=session)
            with_session(work, "psycopg")
        """
    )
    result = app.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "Query count grows with the data:*ran 8 at scale 2 and 11 at scale 5",
            "*",
            "*",
            "  1.  7 → 10x  SELECT ... FROM items WHERE ?* = items.user_id*",
            "      at test_scale_async.py:33 in lazy.<lambda>",
            "      a lazy load of User.items:*select(User).options(selectinload(User.items))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*UsageError: *test_sync_method_with_async_session: "
            "dbguard.assert_constant_queries(): session is an async AsyncSession: use "
            "`await dbguard.assert_constant_queries_async(...)`"
        ]
    )


@pytest.mark.usefixtures("pg_db")
def test_turned_off_runs_the_steps_unchecked(app: pytest.Pytester) -> None:
    app.makepyfile(test_scale_off=SCALE)
    result = app.runpytest("-p", "no:randomly", "--dbguard-disable")
    # the counts are not measured: the tests that check them fail on their own assertion
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(["*assert {} == {2: 2, 5: 2}*"])
