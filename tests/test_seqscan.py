"""Unavoidable sequential scans, judged from EXPLAIN with enable_seqscan = off."""

from __future__ import annotations

import pytest

QUERIES = """
from sqlalchemy import text

def test_filter_on_an_indexed_column(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT * FROM users WHERE email = :e"), {"e": "user1@example.com"})

def test_filter_on_an_unindexed_column(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": "secret-value"})

def test_whole_table_by_design(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM users")).scalar()
        conn.execute(text("SELECT * FROM items")).all()
"""


def test_tiny_tables_are_judged_by_their_indexes(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_queries=QUERIES)
    result = plan_app.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_filter_on_an_unindexed_column _*",
            "Unavoidable sequential scan: no index serves users (status)",
            "  Seq Scan on users for Filter: (status = ?)",
            "*reads every row*",
            "  SELECT * FROM users WHERE status = ?",
            "  at test_queries.py:9 in test_filter_on_an_unindexed_column",
            "Fix, verified on this database (PostgreSQL plans an Index Scan with it: rows read 5 -> 1, estimated cost * -> *):",
            "  CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
            "  (on 5 rows reading the whole table is still cheaper; *)",
            '  or accept it: @pytest.mark.allow_seqscan("users")',
        ]
    )
    result.stdout.no_fnmatch_line("*secret-value*")


def test_a_dropped_index_turns_into_a_finding(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBGUARD_DROP_INDEXES", "ix_users_email")
    plan_app.makepyfile(test_queries=QUERIES)
    result = plan_app.runpytest("-k", "indexed_column and not unindexed")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["Unavoidable sequential scan: no index serves users (email)"])


def test_full_index_scan_standing_in_for_a_seq_scan(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_order="""
        from sqlalchemy import text

        def test_order_by_primary_key(engine):
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT * FROM items WHERE title = :t ORDER BY id LIMIT 5"), {"t": "item 3"}
                ).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Unavoidable sequential scan: no index serves items (title)",
            "  Index Scan using items_pkey (no Index Cond) on items for Filter: (title = ?)",
            "*CREATE INDEX CONCURRENTLY idx_items_title_id ON items (title, id);",
        ]
    )


def test_join_without_an_index_on_the_foreign_key(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_app.makepyfile(
        test_join="""
        from sqlalchemy import text

        def test_items_of_one_user(engine):
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT items.title FROM users JOIN items ON items.user_id = users.id "
                    "WHERE users.email = :e"), {"e": "user2@example.com"}
                ).all()

        def test_report_of_everything(engine):
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT users.email, items.title FROM users JOIN items "
                    "ON items.user_id = users.id")).all()
        """
    )
    plan_app.runpytest().assert_outcomes(passed=2)
    monkeypatch.setenv("DBGUARD_DROP_INDEXES", "ix_items_user_id")
    result = plan_app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_items_of_one_user _*",
            "Unavoidable sequential scan: no index serves items (user_id)",
            "  Seq Scan on items for * Cond: (*items.user_id*)",
            "*CREATE INDEX CONCURRENTLY idx_items_user_id ON items (user_id);",
        ]
    )


def test_modes_and_allow_lists(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_allowed="""
        import pytest
        from sqlalchemy import text

        def scan(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE status = 'active'")).all()

        @pytest.mark.allow_seqscan("users")
        def test_marker(engine):
            scan(engine)

        @pytest.mark.allow_seqscan("items")
        def test_marker_for_another_table(engine):
            scan(engine)
        """
    )
    plan_app.runpytest().assert_outcomes(passed=1, failed=1)
    warned = plan_app.runpytest("--dbguard-seqscan=warn")
    warned.assert_outcomes(passed=2, warnings=1)
    warned.stdout.fnmatch_lines(["*DBGuardWarning: Unavoidable sequential scan*"])
    plan_app.runpytest("--dbguard-seqscan=off").assert_outcomes(passed=2)
    plan_app.makeini("[pytest]\ndbguard_allow_seqscan = users\n")
    plan_app.runpytest().assert_outcomes(passed=2)


def test_invalid_allow_seqscan_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.allow_seqscan()
        def test_nothing():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *::test_nothing: @pytest.mark.allow_seqscan(): expects one or more table names"]
    )


def test_sqlite_is_never_explained(app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBGUARD_INNER_URL", "sqlite://")
    app.makepyfile(
        test_lite="""
        from sqlalchemy import select
        from models import User

        def test_unindexed_filter(engine):
            with engine.connect() as conn:
                conn.execute(select(User).where(User.email == "x")).all()
        """
    )
    app.runpytest("-W", "error::pytest_dbguard.DBGuardWarning").assert_outcomes(passed=1)


def test_verdicts_are_reused_while_the_schema_stays_the_same(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(
        explain_counter="""
        import pytest
        from pytest_dbguard import _capture

        calls = []

        @pytest.fixture(autouse=True)
        def count_explains(monkeypatch):
            real = _capture.explain
            monkeypatch.setattr(_capture, "explain", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
        """,
        test_reuse="""
        import pytest
        from sqlalchemy import text
        from explain_counter import calls, count_explains

        INDEXED = "SELECT * FROM users WHERE email = :e"
        UNINDEXED = "SELECT * FROM users WHERE status = :s"

        def run(engine, sql):
            with engine.connect() as conn:
                conn.execute(text(sql), {"e": "x", "s": "x"}).all()

        @pytest.mark.parametrize("n", range(3))
        def test_same_schema(engine, n):
            run(engine, INDEXED)
            assert sum("WHERE email" in sql for sql in calls) == 1  # by the first test only

        @pytest.fixture
        def without_email_index(engine):
            with engine.begin() as conn:
                conn.execute(text("DROP INDEX ix_users_email"))
            return engine

        def test_a_fixture_drops_the_index(without_email_index):
            run(without_email_index, INDEXED)

        def test_index_dropped_in_the_test(engine):
            run(engine, INDEXED)
            with engine.begin() as conn:
                conn.execute(text("DROP INDEX ix_users_email"))
            run(engine, INDEXED.replace("*", "id"))

        def test_index_created_in_the_test(engine):
            with engine.begin() as conn:
                conn.execute(text("CREATE INDEX ix_users_status ON users (status)"))
            run(engine, UNINDEXED)

        def test_after_a_test_that_created_an_index(engine):
            run(engine, UNINDEXED)

        def test_findings_are_never_reused(engine):
            run(engine, UNINDEXED)
        """,
    )
    result = plan_app.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=4)
    for test in (
        "test_a_fixture_drops_the_index",
        "test_index_dropped_in_the_test",
        "test_after_a_test_that_created_an_index",
        "test_findings_are_never_reused",
    ):
        result.stdout.fnmatch_lines([f"FAILED test_reuse.py::{test} - DBGuard*"])
