"""The plugin's own statements on each driver: psycopg is recognised (prepare=False and the
one-round-trip EXPLAIN), and what the plugin sends never shows as the test's statements."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from pytest_dbguard._explain import DriverSession, explain


def test_psycopg_is_recognised(pg_database: psycopg.Connection) -> None:
    session = DriverSession(pg_database)
    assert session.inline("SELECT %(a)s, %(b)s", {"a": "it's", "b": 5}) == "SELECT 'it''s', 5"


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "postgresql+asyncpg"])
def test_explain_in_one_round_trip_on_psycopg_only(
    database_url: str, driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin's statements per EXPLAIN without a finding: one script on psycopg (sync and
    async), one statement at a time on asyncpg."""
    scripts: list[str] = []
    original = DriverSession.run

    def counting_run(self: DriverSession, sql: str, parameters: object = None) -> object:
        scripts.append(sql)
        return original(self, sql, parameters)

    original_sets = DriverSession.result_sets

    def counting_sets(self: DriverSession, script: str) -> object:
        scripts.append(script)
        return original_sets(self, script)

    monkeypatch.setattr(DriverSession, "run", counting_run)
    monkeypatch.setattr(DriverSession, "result_sets", counting_sets)

    async def explained() -> list[object]:
        engine = create_async_engine(database_url.replace("postgresql+psycopg", driver))
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TEMPORARY TABLE t (id integer PRIMARY KEY)"))

            def explain_once(sync_conn: object) -> object:
                return explain(
                    sync_conn,  # type: ignore[arg-type]
                    "SELECT * FROM t WHERE id = 1",
                    None,
                    False,
                    analyze_tables=False,
                    seqscan_off=True,
                )

            result = await conn.run_sync(explain_once)
        await engine.dispose()
        return [result]

    (result,) = asyncio.run(explained())
    assert result.error is None and result.seqscan_off_plan is not None  # type: ignore[attr-defined]
    expected = 1 if driver == "postgresql+psycopg" else 5
    assert len(scripts) == expected, scripts


def test_the_plugins_statements_are_not_prepared(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        for _ in range(8):  # psycopg prepares what runs five times on one connection
            explain(
                conn,
                "SELECT 1 WHERE 1 = %(v)s",
                {"v": 1},
                False,
                analyze_tables=True,
                seqscan_off=True,
            )
        prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
        assert [s for s in prepared if "EXPLAIN" in s.upper() or "SAVEPOINT" in s.upper()] == []
    engine.dispose()
