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
    result = plan_app.runpytest("-W", "error::pytest_dbguard.DBGuardWarning")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*not examined*")


def test_a_trial_index_that_cannot_be_created_is_said_so(plan_app: pytest.Pytester) -> None:
    """In a read-only transaction the trial index cannot be created: the finding says that the
    fix could not be tried and why, and the test's transaction goes on as it was."""
    plan_app.makepyfile(
        test_read_only="""
        from sqlalchemy import text

        def test_read_only(engine):
            with engine.connect() as conn:
                conn.execute(text("SET TRANSACTION READ ONLY"))
                conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": "a"}).all()
                assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
                assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 5
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Missing index: no index serves users (status)",
            "Fix, not verified: the index could not be tried here (cannot execute * in a read-only transaction):",
            "  CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
        ]
    )
    result.stdout.no_fnmatch_line("*AssertionError*")


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
    assert "-> ModifyTable on items" in text
    assert "Operation: Insert" in text


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
            "*test_autocommit.py:6: DBGuardWarning: Missing index: no index serves users (status)",
            "*test_autocommit.py:8: DBGuardWarning: Missing index: no index serves users (status)",
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
            "Missing index: no index serves users (status)",
            "  at test_async.py:9 in scan",
        ]
    )
    result.stdout.no_fnmatch_line("*not examined*")
