"""The plugin's EXPLAIN never changes what the test does."""

from __future__ import annotations

import pytest


def test_session_settings_and_prepared_statements_are_unchanged(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(
        test_settings="""
        import pytest
        from sqlalchemy import text

        SETTINGS = text("SELECT name, setting FROM pg_settings ORDER BY name")
        PREPARED = text("SELECT count(*) FROM pg_prepared_statements")

        @pytest.mark.snapshot_plans
        def test_statements_run_many_times(engine, dbguard):
            with engine.connect() as conn:
                before = conn.execute(SETTINGS).all()
                for n in range(8):  # psycopg prepares a statement on its sixth run
                    conn.execute(text("SELECT * FROM users WHERE email = :e"), {"e": f"user{n}"})
                    conn.execute(text("UPDATE items SET title = title WHERE id = :i"), {"i": n})
                    conn.execute(text("SELECT * FROM users WHERE id = :i FOR UPDATE"), {"i": n})
                    assert conn.execute(SETTINGS).all() == before
                assert conn.execute(text("SHOW enable_seqscan")).scalar() == "on"
                # the test's own statements were prepared by psycopg, the plugin's never
                names = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
                assert not [name for name in names if "EXPLAIN" in name.upper()]
                conn.commit()
        """
    )
    plan_app.runpytest(
        "--dbguard-update",
        "--dbguard-duplicates=off",
        "--dbguard-nplusone=off",
        "-W",
        "error::pytest_dbguard.DBGuardWarning",
    ).assert_outcomes(passed=1)


def test_an_aborted_transaction_stays_as_the_test_left_it(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_aborted="""
        import pytest
        from sqlalchemy import exc, text

        def test_statement_after_an_error(engine):
            with engine.connect() as conn:
                with pytest.raises(exc.DataError):
                    conn.execute(text("SELECT CAST('x' AS integer)"))
                with pytest.raises(exc.InternalError, match="current transaction is aborted"):
                    conn.execute(text("SELECT * FROM users WHERE status = 'a'"))
                conn.rollback()
                assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 5
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(
        [
            # PostgreSQL evaluates the cast while planning: EXPLAIN fails as the statement does
            '*DBGuardWarning: EXPLAIN failed for SELECT CAST(? AS integer): invalid input syntax for type integer: "x"',
            "*DBGuardWarning: EXPLAIN failed for SELECT * FROM users WHERE status = ?: the test's transaction is already aborted",
        ]
    )


def test_failing_explain_leaves_the_transaction_usable(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_unexplainable="""
        import pytest
        from sqlalchemy import text
        from pytest_dbguard import _explain

        @pytest.fixture
        def failing_explain(monkeypatch):
            # a server error inside the plugin's savepoint, after its first EXPLAIN succeeded
            monkeypatch.setattr(_explain, "relations_in", lambda plan: ['"no_such_table"'])

        def test_uncommitted_data_and_temporary_tables(engine, failing_explain):
            with engine.connect() as conn:
                conn.execute(text("CREATE TEMPORARY TABLE scratch (n integer)"))
                conn.execute(text("INSERT INTO scratch VALUES (1), (2)"))
                assert conn.execute(text("SELECT n FROM scratch ORDER BY n")).scalars().all() == [1, 2]
                conn.execute(text("UPDATE users SET status = 'new' WHERE id = 1"))
                assert conn.execute(text("SELECT count(*) FROM scratch")).scalar() == 2
                assert conn.execute(text("SELECT status FROM users WHERE id = 1")).scalar() == "new"
        """
    )
    result = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    result.assert_outcomes(passed=1, warnings=5)  # every statement's EXPLAIN failed; each ran
    result.stdout.fnmatch_lines(
        [
            '*test_unexplainable.py:13: DBGuardWarning: EXPLAIN failed for INSERT INTO scratch VALUES (...): relation "no_such_table" does not exist',
            "*Its plan is not checked; the test's own statement ran as usual.",
        ]
    )


def test_server_side_cursors_and_executemany(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_streams="""
        from sqlalchemy import text

        def test_stream_while_running_other_statements(engine):
            with engine.connect() as conn:
                streamed = text("SELECT id FROM items WHERE user_id = :u ORDER BY id")
                rows = conn.execute(
                    streamed.execution_options(stream_results=True, max_row_buffer=2), {"u": 1}
                )
                seen = []
                for (item_id,) in rows:
                    seen.append(item_id)
                    conn.execute(text("SELECT title FROM items WHERE id = :i"), {"i": item_id})
                assert len(seen) == 3
                conn.execute(
                    text("INSERT INTO items (user_id, title) VALUES (:u, :t)"),
                    [{"u": 1, "t": "a"}, {"u": 2, "t": "b"}],
                )
                assert conn.execute(text("SELECT count(*) FROM items")).scalar() == 17
        """
    )
    result = plan_app.runpytest("--dbguard-plans", "--dbguard-update", "--dbguard-nplusone=off")
    result.assert_outcomes(passed=1, warnings=0)
    snapshot = (plan_app.path / "__dbguard__" / "test_streams").glob("*.plan")
    text = next(snapshot).read_text()
    assert "INSERT INTO items (user_id, title) VALUES (...)" in text
    assert "-> ModifyTable on items" in text and "Operation: Insert" in text


def test_autocommit_connections_stay_in_autocommit(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_autocommit="""
        from sqlalchemy import text

        def test_autocommit(engine):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("UPDATE users SET status = 'gone' WHERE email = :e"), {"e": "user1@example.com"})
                conn.execute(text("SELECT * FROM users WHERE status = 'gone'")).all()
            with engine.connect() as other:
                assert other.execute(text("SELECT count(*) FROM users WHERE status = 'gone'")).scalar() == 1
        """
    )
    result = plan_app.runpytest("--dbguard-seqscan=warn", "--dbguard-plans", "--dbguard-update")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*test_autocommit.py:6: DBGuardWarning: Unavoidable sequential scan: no index serves users (status)",
            "*test_autocommit.py:8: DBGuardWarning: Unavoidable sequential scan: no index serves users (status)",
        ]
    )


def test_a_closed_connection_fails_as_it_would_without_the_plugin(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(
        test_closed="""
        import pytest
        from sqlalchemy import exc, text

        def test_closed(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.connection.dbapi_connection.close()
                with pytest.raises(exc.DBAPIError):
                    conn.execute(text("SELECT * FROM users WHERE email = 'x'"))
        """
    )
    # SQLAlchemy asks the closed connection for a cursor before any event: nothing to explain
    plan_app.runpytest("-W", "error::pytest_dbguard.DBGuardWarning").assert_outcomes(passed=1)


@pytest.mark.parametrize("driver", ["postgresql+asyncpg", "postgresql+psycopg"])
def test_async_engines_are_explained(
    plan_app: pytest.Pytester, pg_db: str, driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBGUARD_ASYNC_URL", pg_db.replace("postgresql+psycopg", driver))
    plan_app.makepyfile(
        test_async="""
        import asyncio, os
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        async def scan():
            engine = create_async_engine(os.environ["DBGUARD_ASYNC_URL"])
            async with engine.connect() as conn:
                for n in range(7):
                    await conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": "active"})
                    await conn.execute(text("SELECT * FROM users WHERE email = :e"), {"e": "x"})
                    assert (await conn.execute(text("SHOW enable_seqscan"))).scalar() == "on"
            await engine.dispose()

        def test_async(engine):
            asyncio.run(scan())
        """
    )
    result = plan_app.runpytest("--dbguard-duplicates=off")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Unavoidable sequential scan: no index serves users (status)",
            "  at test_async.py:9 in scan",
        ]
    )
    result.stdout.no_fnmatch_line("*EXPLAIN failed*")
