"""Query budgets: markers, decorators, the ini default, the fixture's blocks, and messages."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("any_db")
def test_max_queries_marker_passes_within_budget_and_fails_over_it(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_budget="""
        import pytest
        from sqlalchemy import select, text
        from models import User

        @pytest.mark.max_queries(2)
        def test_within(engine):
            with engine.connect() as conn:
                conn.execute(select(User)).all()
                conn.execute(text("SELECT count(*) FROM items")).scalar()

        @pytest.mark.max_queries(2)
        def test_over(engine):
            with engine.connect() as conn:
                conn.execute(select(User)).all()
                conn.execute(text("SELECT count(*) FROM items")).scalar()
                conn.execute(select(User).where(User.email == "secret@example.com")).all()
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "Expected at most 2 queries, 3 were run (@pytest.mark.max_queries(2))",
            "  1. * SELECT ... FROM users",
            "* at test_budget.py:14 in test_over",
            "  2. * SELECT count(*) FROM items",
            "* at test_budget.py:15 in test_over",
            "  3. * SELECT ... FROM users WHERE users.email = ?*",
            "* at test_budget.py:16 in test_over",
            "Parameters are hidden; --dbguard-show-params shows them.",
        ]
    )
    result.stdout.no_fnmatch_line("*secret@example.com*")


@pytest.mark.usefixtures("any_db")
def test_num_queries_requires_the_exact_count(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_exact="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.num_queries(2)
        def test_exact(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))

        @pytest.mark.num_queries(2)
        def test_fewer(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["Expected exactly 2 queries, 1 was run (@pytest.mark.num_queries(2))"]
    )


@pytest.mark.usefixtures("any_db")
def test_decorators_from_the_package_are_the_markers(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_decorators="""
        from sqlalchemy import text
        from pytest_dbguard import max_queries, num_queries

        @max_queries(1)
        def test_max(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))

        @num_queries(1)
        def test_num(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["Expected at most 1 query, 2 were run (@pytest.mark.max_queries(1))"]
    )


@pytest.mark.usefixtures("any_db")
def test_repeats_of_one_shape_are_grouped_under_their_numbers(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_grouped="""
        import pytest
        from sqlalchemy import select
        from models import Item, User

        @pytest.mark.max_queries(3)
        @pytest.mark.allow_nplusone
        def test_loop(engine):
            with engine.connect() as conn:
                users = conn.execute(select(User)).all()
                for user in users:
                    conn.execute(select(Item).where(Item.user_id == user.id)).all()
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Expected at most 3 queries, 6 were run*",
            "  1. * SELECT ... FROM users",
            "* at test_grouped.py:9 in test_loop",
            "  2-6. * 5x SELECT ... FROM items WHERE items.user_id = ?*",
            "* at test_grouped.py:11 in test_loop",
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_show_params_option_shows_parameter_values(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_params="""
        import pytest
        from sqlalchemy import select
        from models import User

        @pytest.mark.max_queries(0)
        def test_over(engine):
            with engine.connect() as conn:
                conn.execute(select(User).where(User.email == "alice@example.com")).all()
        """
    )
    result = app.runpytest("--dbguard-show-params")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parameters: *alice@example.com*"])


@pytest.mark.usefixtures("any_db")
def test_ini_default_budget_applies_to_tests_without_a_marker(app: pytest.Pytester) -> None:
    app.makeini("[pytest]\ndbguard_max_queries = 1\n")
    app.makepyfile(
        test_default="""
        import pytest
        from sqlalchemy import text

        def test_default_budget(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))

        @pytest.mark.max_queries(5)
        def test_marker_overrides_the_default(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["Expected at most 1 query, 2 were run (ini dbguard_max_queries)"])


@pytest.mark.usefixtures("any_db")
def test_budget_filters_by_kind_and_by_regex(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_filters="""
        import pytest
        from sqlalchemy import insert, select, text
        from models import Item, User

        @pytest.mark.max_queries(1, kinds=["select"])
        def test_only_selects_count(engine):
            with engine.begin() as conn:
                conn.execute(insert(User).values(id=100, email="a"))
                conn.execute(insert(User).values(id=101, email="b"))
                conn.execute(select(User)).all()

        @pytest.mark.max_queries(1, match="FROM items")
        def test_only_matching_statements_count(engine):
            with engine.connect() as conn:
                conn.execute(select(User)).all()
                conn.execute(select(User.id)).all()
                conn.execute(select(Item)).all()

        @pytest.mark.max_queries(0, kinds="insert")
        def test_kind_filter_fails(engine):
            with engine.begin() as conn:
                conn.execute(insert(User).values(id=102, email="c"))
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["Expected at most 0 queries (insert), 1 was run*"])


@pytest.mark.usefixtures("any_db")
def test_transaction_control_is_recorded_but_not_counted(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_savepoints="""
        import pytest
        from sqlalchemy import select
        from sqlalchemy.orm import Session
        from models import User

        @pytest.mark.num_queries(2)
        def test_nested_transactions(engine, dbguard):
            with Session(engine) as session:
                with session.begin():
                    with session.begin_nested():
                        session.scalars(select(User)).all()
                    with session.begin_nested():
                        session.scalars(select(User.id)).all()
            kinds = [query.kind for query in dbguard.queries]
            assert kinds.count("transaction") >= 5, kinds
            assert "SAVEPOINT ?" in [query.fingerprint for query in dbguard.queries]
        """
    )
    app.runpytest().assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_ini_option_counts_transaction_control(app: pytest.Pytester) -> None:
    app.makeini("[pytest]\ndbguard_count_kinds = select transaction\n")
    app.makepyfile(
        test_count_tx="""
        import pytest
        from sqlalchemy import select
        from sqlalchemy.orm import Session
        from models import User

        @pytest.mark.max_queries(1)
        def test_savepoints_count(engine):
            with Session(engine) as session, session.begin():
                with session.begin_nested():
                    session.scalars(select(User)).all()
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SAVEPOINT ?", "*RELEASE SAVEPOINT ?"])


@pytest.mark.usefixtures("any_db")
def test_fixture_blocks_count_only_their_statements(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_blocks="""
        from sqlalchemy import text

        def test_block_within(engine, dbguard):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))
                with dbguard.max_queries(1):
                    conn.execute(text("SELECT 3"))
                with dbguard.num_queries(2):
                    conn.execute(text("SELECT 4"))
                    conn.execute(text("SELECT 5"))
                assert dbguard.count() == 5

        def test_block_over(engine, dbguard):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                with dbguard.max_queries(1):
                    conn.execute(text("SELECT 2"))
                    conn.execute(text("SELECT count(*) FROM users"))
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "Expected at most 1 query, 2 were run (dbguard.max_queries(1) at test_blocks.py:17)",
            "  1. * SELECT ?",
            "  2. * SELECT count(*) FROM users",
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_a_block_that_raises_reports_the_error_not_the_budget(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_raises="""
        from sqlalchemy import text

        def test_error_in_block(engine, dbguard):
            with engine.connect() as conn, dbguard.max_queries(0):
                conn.execute(text("SELECT 1"))
                raise RuntimeError("boom")
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: boom*"])
    result.stdout.no_fnmatch_line("*Expected at most*")


@pytest.mark.usefixtures("any_db")
def test_fixture_setup_is_not_counted_unless_asked(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_setup="""
        import pytest
        from sqlalchemy import text

        @pytest.fixture
        def warmed(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.execute(text("SELECT 2"))
            return engine

        @pytest.mark.max_queries(1)
        def test_budget(warmed, dbguard):
            with warmed.connect() as conn:
                conn.execute(text("SELECT 3"))
        """
    )
    app.runpytest().assert_outcomes(passed=1)
    result = app.runpytest("-o", "dbguard_count_setup=true")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["Expected at most 1 query, * were run*"])


@pytest.mark.usefixtures("pg_db")
def test_count_setup_never_charges_wider_fixtures_to_a_test(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_scopes="""
        import pytest
        from sqlalchemy import create_engine, text
        import os

        @pytest.fixture(scope="session")
        def warm_cache():
            engine = create_engine(os.environ["DBGUARD_INNER_URL"])
            with engine.connect() as conn:
                for n in range(5):
                    conn.execute(text(f"SELECT {n}"))
            yield
            engine.dispose()

        @pytest.fixture
        def per_test(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 'per test'"))

        COUNTED = r"^SELECT ('|\\d)"

        @pytest.mark.num_queries(2, match=COUNTED)
        def test_first(warm_cache, per_test, engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 'call'"))

        @pytest.mark.num_queries(2, match=COUNTED)
        def test_second(warm_cache, per_test, engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT 'call'"))
        """
    )
    # each test: its function fixture's statement and its own; the session fixture's five
    # statements are charged to neither (not to whichever test happens to run first)
    app.runpytest("-o", "dbguard_count_setup=true").assert_outcomes(passed=2)
