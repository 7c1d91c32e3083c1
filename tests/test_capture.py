"""What is captured: every engine, async engines, other threads, executemany, call sites."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("any_db")
def test_queries_describe_each_statement(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_queries="""
        from sqlalchemy import insert, select, text
        from models import User

        def test_attributes(engine, dbguard):
            with engine.begin() as conn:
                conn.execute(select(User).where(User.id == 3)).all()
                conn.execute(insert(User), [{"id": 50 + i, "email": "e"} for i in range(4)])
                conn.execute(text("CREATE TABLE scratch (id integer)"))
            first, *rest = [q for q in dbguard.queries if q.kind != "transaction"]
            assert first.kind == "select"
            assert first.fingerprint.startswith("SELECT users.id, users.email FROM users WHERE")
            assert "?" in first.fingerprint and "3" not in first.fingerprint
            assert first.parameters is not None and "3" not in repr(first)
            assert str(first.call_site) == "test_queries.py:6 in test_attributes"
            assert first.phase == "call" and first.counted
            assert first.dialect == engine.dialect.name
            kinds = [q.kind for q in rest]
            assert kinds[-1] == "ddl", kinds
            inserts = [q for q in rest if q.kind == "insert"]
            assert sum(q.batch_size for q in inserts) == 4
            assert [q.kind for q in dbguard.queries].count("transaction") == 2  # BEGIN, COMMIT
            assert not [q for q in dbguard.queries if q.kind == "transaction"][0].counted
        """
    )
    app.runpytest().assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_executemany_counts_as_one_statement(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_many="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.num_queries(1)
        def test_executemany(engine, dbguard):
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE users SET email = :email WHERE id = :id"),
                    [{"id": i, "email": f"n{i}"} for i in range(1, 6)],
                )
            (update,) = [q for q in dbguard.queries if q.kind == "update"]
            assert update.executemany and update.batch_size == 5
        """
    )
    app.runpytest().assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_statements_from_other_threads_are_captured(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_threads="""
        import threading
        import pytest
        from sqlalchemy import text

        @pytest.mark.max_queries(2)
        def test_worker_thread(engine):
            def work():
                with engine.connect() as conn:
                    for n in range(3):
                        conn.execute(text(f"SELECT {n}"))
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["Expected at most 2 queries, 3 were run*", "*at test_threads.py:10 in *work"]
    )


@pytest.mark.parametrize("driver", ["postgresql+asyncpg", "postgresql+psycopg"])
def test_async_engines_are_captured_with_the_awaiting_call_site(
    app: pytest.Pytester, pg_db: str, driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBGUARD_ASYNC_URL", pg_db.replace("postgresql+psycopg", driver))
    app.makepyfile(
        test_async="""
        import asyncio, os
        import pytest
        from sqlalchemy import select
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
        from models import Base, Item, User, seed

        async def load_items():
            engine = create_async_engine(os.environ["DBGUARD_ASYNC_URL"])
            async with AsyncSession(engine) as session:
                users = (await session.scalars(select(User))).all()
                for user in users:
                    await session.scalars(select(Item).where(Item.user_id == user.id))
            await engine.dispose()

        def test_async_nplusone(engine):
            asyncio.run(load_items())
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "N+1 query: the same SELECT ran 5 times from one call site with different parameters, in one unit of work",
            "  at test_async.py:12 in load_items",
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_disabled_plugin_changes_nothing(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_disabled="""
        import pytest
        from sqlalchemy import select, text
        from models import User

        @pytest.mark.max_queries(0)
        def test_over_budget(session):
            for user in session.scalars(select(User)):
                len(user.items)
        """
    )
    app.runpytest().assert_outcomes(failed=1)
    result = app.runpytest("-p", "no:dbguard", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*= dbguard =*")
    result.stdout.no_fnmatch_line("*DBGuardWarning*")


@pytest.mark.usefixtures("any_db")
def test_recorded_statements_are_capped_but_counts_stay_exact(app: pytest.Pytester) -> None:
    app.makeini("[pytest]\ndbguard_max_recorded = 5\n")
    app.makepyfile(
        test_cap="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.max_queries(10)
        def test_many(engine, dbguard):
            with engine.connect() as conn:
                for n in range(12):
                    conn.execute(text("SELECT :n"), {"n": n % 2})
            assert len(dbguard.queries) == 5
            assert dbguard.count() == 12
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["Expected at most 10 queries, 12 were run*", "*only the first 4 statements were recorded*"]
    )


@pytest.mark.usefixtures("any_db")
def test_call_sites_for_every_statement_on_request(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_sites="""
        from sqlalchemy import text

        def sites(engine, dbguard):
            with engine.connect() as conn:
                for n in range(20):  # beyond the first 16 runs sampled
                    conn.execute(text("SELECT 1"))
            return [q.call_site for q in dbguard.queries if q.kind == "select"]

        def test_sampled(engine, dbguard):
            found = sites(engine, dbguard)
            assert found[0] is not None and None in found

        def test_all(engine, dbguard):
            assert None not in sites(engine, dbguard)
        """
    )
    app.runpytest("-o", "dbguard_duplicates=off", "-k", "sampled").assert_outcomes(passed=1)
    app.runpytest(
        "-o", "dbguard_duplicates=off", "-k", "all", "-o", "dbguard_callsites=all"
    ).assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_one_statement_from_two_call_depths_gets_each_call_site(app: pytest.Pytester) -> None:
    # The same SQL sent directly and through a helper module treated as library code (as Core
    # and an ORM flush can send one INSERT): the user's frame is at two depths, alternately.
    app.makepyfile(
        repository="""
        from sqlalchemy import select
        from models import User

        def email_of(conn, user_id):
            return conn.execute(select(User.email).where(User.id == user_id)).scalar()
        """,
        test_depths="""
        from sqlalchemy import select
        from models import User
        import repository

        def lookups(conn, user_id):
            conn.execute(select(User.email).where(User.id == user_id)).scalar()
            repository.email_of(conn, user_id)

        def test_alternating(engine, dbguard):
            with engine.connect() as conn:
                for user_id in (1, 2, 3):
                    lookups(conn, user_id)
            sites = [str(q.call_site) for q in dbguard.queries if q.kind == "select"]
            assert sites == ["test_depths.py:6 in lookups", "test_depths.py:7 in lookups"] * 3
        """,
    )
    options = [
        "dbguard_callsites=all",
        "dbguard_nplusone=off",
        "dbguard_library_modules=repository",
    ]
    result = app.runpytest(*[arg for option in options for arg in ("-o", option)])
    result.assert_outcomes(passed=1)
