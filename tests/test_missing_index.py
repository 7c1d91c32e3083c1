"""Missing indexes: whole-table reads of the indexed plan, proven by a trial index."""

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
            "Missing index: no index serves users (status)",
            "  PostgreSQL reads every row of users (a sequential scan) and keeps those where (users.status = ?)",
            "  SELECT * FROM users WHERE status = ?",
            "  at test_queries.py:9 in test_filter_on_an_unindexed_column",
            "Fix, verified on this database (with it the plan reads users through an index):",
            "  CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
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
    result.stdout.fnmatch_lines(["Missing index: no index serves users (email)"])


def test_reads_of_postgresql_catalogs_are_never_findings(plan_app: pytest.Pytester) -> None:
    """An application that reads PostgreSQL's own catalogs (statistics views, pg_class) gets no
    index suggested on them: nobody can add one there."""
    plan_app.makepyfile(
        test_catalogs="""
        from sqlalchemy import text

        def test_statistics_of_a_table(engine):
            with engine.connect() as conn:
                conn.execute(
                    text("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = :r"),
                    {"r": "users"},
                ).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*Missing index*")


def test_full_index_walk_standing_in_for_a_seq_scan(plan_app: pytest.Pytester) -> None:
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
            "Missing index: no index serves items (title)",
            "  PostgreSQL reads every row of items (a walk of the whole index items_pkey without "
            "a condition) and keeps those where (items.title = ?)",
            "*CREATE INDEX CONCURRENTLY idx_items_title ON items (title);",
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
            "Missing index: no index serves items (user_id)",
            "*CREATE INDEX CONCURRENTLY idx_items_user_id ON items (user_id);",
        ]
    )


def test_an_unindexed_filter_read_through_a_join(plan_app: pytest.Pytester) -> None:
    """The planner may walk another table's index in full and probe the filtered table by
    primary key: the filtered table's own scan is a lookup, the whole-table read is the other
    table's, and the index that removes it is on the filtered column."""
    plan_app.makepyfile(
        test_join="""
        from sqlalchemy import text

        def test_items_of_active_users(engine):
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT items.title FROM items JOIN users ON users.id = items.user_id "
                    "WHERE users.status = :s"), {"s": "active"}
                ).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Missing index: no index serves users (status)",
            "*CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
        ]
    )


def test_filters_no_index_narrows_are_not_findings(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_filters="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.parametrize("condition", [
            "status <> 'gone'",
            "status NOT IN ('a', 'b')",
            "NOT archived",
            "archived = false",
            "archived",
            "email LIKE '%example.com'",
        ])
        def test_filter(engine, condition):
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE users ADD COLUMN IF NOT EXISTS archived boolean DEFAULT false"))
            with engine.connect() as conn:
                conn.execute(text(f"SELECT * FROM users WHERE {condition}")).all()

        def test_a_flag_bound_as_a_parameter(engine):
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE users ADD COLUMN IF NOT EXISTS archived boolean DEFAULT false"))
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE archived = :a"), {"a": True}).all()
        """
    )
    plan_app.runpytest().assert_outcomes(passed=7)


def test_is_null_is_served_by_a_btree_index(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_soft_delete="""
        from sqlalchemy import text

        def test_live_items_of_a_user(engine):
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE items ADD COLUMN deleted_at timestamptz"))
                conn.execute(text("DROP INDEX ix_items_user_id"))
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT * FROM items WHERE user_id = :u AND deleted_at IS NULL"), {"u": 1}
                ).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*CREATE INDEX CONCURRENTLY idx_items_user_id_deleted_at ON items (user_id, deleted_at);"]
    )


@pytest.mark.usefixtures("pg_db")
def test_queries_of_the_test_module_itself_are_not_judged(pytester: pytest.Pytester) -> None:
    """A test's own check of its results (a query in the test body) is counted, but not
    judged for missing indexes unless dbguard_judge_test_queries is set."""
    pytester.makepyfile(
        app="""
        from sqlalchemy import text

        def unindexed_lookup(conn):
            return conn.execute(text("SELECT * FROM users WHERE status = 'x'")).all()
        """,
        test_checks="""
        import os
        import pytest
        from sqlalchemy import create_engine, text
        from app import unindexed_lookup

        @pytest.fixture
        def engine():
            engine = create_engine(os.environ["DBGUARD_INNER_URL"])
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS users"))
                conn.execute(text("CREATE TABLE users (id serial PRIMARY KEY, status text)"))
            yield engine
            engine.dispose()

        def test_checks_its_results_itself(engine, dbguard):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE status = 'y'")).all()
            assert dbguard.count() == 1

        def test_the_application_reads_every_row(engine):
            with engine.connect() as conn:
                unindexed_lookup(conn)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["  at app.py:4 in unindexed_lookup"])
    pytester.makeini("[pytest]\ndbguard_judge_test_queries = true\n")
    pytester.runpytest().assert_outcomes(failed=2)


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
    warned.stdout.fnmatch_lines(["*DBGuardWarning: Missing index: no index serves users (status)"])
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
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "usage error: *::test_nothing: @pytest.mark.allow_seqscan(): expects one or more table names"
        ]
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


def test_verdicts_are_reused_while_the_schema_stays_the_same(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_reuse="""
        import pytest
        from sqlalchemy import text

        INDEXED = "SELECT * FROM users WHERE email = :e"
        UNINDEXED = "SELECT * FROM users WHERE status = :s"

        def run(engine, sql):
            with engine.connect() as conn:
                conn.execute(text(sql), {"e": "x", "s": "x"}).all()

        @pytest.mark.parametrize("n", range(3))
        def test_same_schema(engine, n):
            run(engine, INDEXED)

        @pytest.fixture
        def without_email_index(engine):
            with engine.begin() as conn:
                conn.execute(text("/* step 42 */ DROP INDEX ix_users_email"))
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

        @pytest.mark.allow_seqscan("users")
        def test_an_accepted_finding(engine):
            run(engine, UNINDEXED)

        @pytest.mark.parametrize("n", range(3))
        @pytest.mark.allow_seqscan("users")
        def test_an_accepted_finding_again(engine, n):
            run(engine, UNINDEXED)

        def test_findings_are_reused_too(engine):
            run(engine, UNINDEXED)
        """,
    )
    result = plan_app.runpytest("-p", "no:randomly", "-v")
    result.assert_outcomes(passed=8, failed=4)
    for test in (
        "test_a_fixture_drops_the_index",
        "test_index_dropped_in_the_test",
        "test_after_a_test_that_created_an_index",
        "test_findings_are_reused_too",
    ):
        result.stdout.fnmatch_lines([f"FAILED test_reuse.py::{test}*"])
    # Each test asks the server for the schema's version (the fixture builds the same schema
    # again for every test: same version); an examination is reused for the same statement on
    # the same schema. Examined: the email lookup on the full schema, without its index, and
    # by id after the test's own DDL; the status lookup with its index and without.
    result.stdout.fnmatch_lines(
        ["Plans: 5 statements examined on the database, 8 examination(s) reused by later tests"]
    )


def test_an_accepted_finding_is_not_proven_until_a_test_needs_it(plan_app: pytest.Pytester) -> None:
    # The trial index is the dear part of an examination: a test that accepts every whole-table
    # read of a statement does without it, and a later test that does not accept them proves
    # the fix then.
    plan_app.makepyfile(
        test_accepted="""
        import pytest
        from sqlalchemy import text

        def run(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": "x"}).all()

        @pytest.mark.parametrize("n", range(3))
        @pytest.mark.allow_seqscan("users")
        def test_accepted(engine, n):
            run(engine)

        def test_not_accepted(engine):
            run(engine)

        @pytest.mark.allow_seqscan("public.users")
        def test_accepted_after(engine):
            run(engine)
        """,
    )
    result = plan_app.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "Missing index: no index serves users (status)",
            "Fix, verified on this database (with it the plan reads users through an index):",
            "Plans: 2 statements examined on the database, 3 examination(s) reused by later tests",
        ]
    )
