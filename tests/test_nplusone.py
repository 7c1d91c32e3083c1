"""N+1 detection: ORM lazy loads, repeated Core selects, and the cases that are not N+1."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("any_db")
def test_orm_lazy_load_in_a_loop_names_the_relationship_and_the_fix(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_lazy="""
        from sqlalchemy import select
        from models import Item, User

        def test_collection(session):
            for user in session.scalars(select(User)):
                len(user.items)

        def test_many_to_one(session):
            for item in session.scalars(select(Item).where(Item.id <= 12)):
                item.owner.email
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "N+1 query: User.items was lazy-loaded for 5 User objects, one query each",
            "  at test_lazy.py:6 in test_collection",
            "  5x SELECT ... FROM items WHERE ?* = items.user_id*",
            "Fix: load User.items with the query that loads the User objects:",
            "  select(User).options(selectinload(User.items))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "N+1 query: Item.owner was lazy-loaded for * Item objects, one query each",
            "  at test_lazy.py:10 in test_many_to_one",
            "  select(Item).options(joinedload(Item.owner))",
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_eager_loading_passes(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_eager="""
        import pytest
        from sqlalchemy import select
        from sqlalchemy.orm import joinedload, selectinload
        from models import Item, User

        @pytest.mark.num_queries(2)
        def test_selectin(session):
            for user in session.scalars(select(User).options(selectinload(User.items))):
                len(user.items)

        @pytest.mark.num_queries(1)
        def test_joined(session):
            for item in session.scalars(select(Item).options(joinedload(Item.owner))):
                item.owner.email
        """
    )
    app.runpytest().assert_outcomes(passed=2)


@pytest.mark.usefixtures("any_db")
def test_one_lazy_load_is_not_nplusone(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_single="""
        from sqlalchemy import select
        from models import User

        def test_one_parent(session):
            user = session.scalars(select(User).limit(1)).one()
            len(user.items)
        """
    )
    app.runpytest().assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_core_select_per_row_is_nplusone(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_core="""
        from sqlalchemy import select, text
        from models import Item, User

        def test_core_loop(engine):
            with engine.connect() as conn:
                for user in conn.execute(select(User)).all():
                    conn.execute(select(Item).where(Item.user_id == user.id)).all()

        def test_text_loop(engine):
            with engine.connect() as conn:
                for (user_id,) in conn.execute(text("SELECT id FROM users")).all():
                    conn.execute(text("SELECT title FROM items WHERE user_id = :u"), {"u": user_id})
        """
    )
    result = app.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "N+1 query: the same SELECT ran 5 times from one call site with different parameters, "
            "in one unit of work",
            "  at test_core.py:7 in test_core_loop",
            "  SELECT * FROM items WHERE items.user_id = ?*",
            "Fix: fetch the rows for all the keys in one query before the loop at test_core.py:7 *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "N+1 query: the same SELECT ran 5 times*",
            "  at test_core.py:12 in test_text_loop",
            "  SELECT title FROM items WHERE user_id = ?",
        ]
    )


@pytest.mark.usefixtures("any_db")
def test_threshold_option_sets_how_many_runs_make_an_nplusone(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_threshold="""
        from sqlalchemy import select
        from models import Item

        def test_three_runs(engine):
            with engine.connect() as conn:
                for user_id in (1, 2, 3):
                    conn.execute(select(Item).where(Item.user_id == user_id)).all()
        """
    )
    app.runpytest().assert_outcomes(failed=1)
    app.runpytest("-o", "dbguard_nplusone_threshold=4").assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_no_false_alarms(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_quiet="""
        from sqlalchemy import insert, inspect, select, text
        from sqlalchemy.orm import Session
        from models import Item, User

        def test_repeated_from_different_lines(engine):
            with engine.connect() as conn:
                conn.execute(select(User).where(User.id == 1)).all()
                conn.execute(select(User).where(User.id == 2)).all()

        def test_executemany_and_bulk_inserts(engine):
            with engine.begin() as conn:
                conn.execute(insert(User), [{"id": 100 + i, "email": "x"} for i in range(20)])
            with Session(engine) as session:
                session.add_all([Item(user_id=1, title=str(i)) for i in range(20)])
                session.commit()

        def test_rows_inserted_one_by_one_are_not_reads(engine):
            with engine.begin() as conn:
                for i in range(5):
                    conn.execute(insert(User).values(id=200 + i, email="y"))

        def test_reflection(engine):
            inspector = inspect(engine)
            for table in ("users", "items", "users", "items"):
                inspector.get_columns(table)
                inspector.get_foreign_keys(table)
            inspect(engine).get_columns("users")

        def test_refresh_after_commit(engine):
            with Session(engine) as session:
                for i in range(4):
                    user = session.get(User, 1)
                    user.email = f"new{i}@example.com"
                    session.commit()
        """
    )
    result = app.runpytest("-W", "error::pytest_dbguard.DBGuardWarning")
    result.assert_outcomes(passed=5)


@pytest.mark.usefixtures("any_db")
def test_identical_repeats_are_duplicates_not_nplusone(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_dupes="""
        from sqlalchemy import select
        from models import User

        def test_same_lookup(engine):
            with engine.connect() as conn:
                for _ in range(4):
                    conn.execute(select(User).where(User.id == 1)).all()
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_dupes.py:7: DBGuardWarning: Duplicate queries: the same statement with the "
            "same parameters ran 4 times in one unit of work",
        ]
    )
    result.stdout.no_fnmatch_line("*N+1*")
    failing = app.runpytest("--dbguard-duplicates=fail")
    failing.assert_outcomes(failed=1)
    app.runpytest("-o", "dbguard_duplicates=off").assert_outcomes(passed=1, warnings=0)


@pytest.mark.usefixtures("any_db")
def test_modes_and_allowances(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_allow="""
        import pytest
        from sqlalchemy import select
        from models import User

        def lazy_loop(session):
            for user in session.scalars(select(User)):
                len(user.items)

        @pytest.mark.allow_nplusone
        def test_marker(session):
            lazy_loop(session)

        def test_block(session, dbguard):
            with dbguard.allow_nplusone():
                lazy_loop(session)

        def test_outside_the_block_still_counts(session, dbguard):
            with dbguard.allow_nplusone():
                session.scalars(select(User)).all()
            lazy_loop(session)
        """
    )
    result = app.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    warned = app.runpytest("--dbguard-nplusone=warn")
    warned.assert_outcomes(passed=3, warnings=1)
    warned.stdout.fnmatch_lines(["*DBGuardWarning: N+1 query: User.items was lazy-loaded*"])
    app.runpytest("--dbguard-nplusone=off").assert_outcomes(passed=3, warnings=0)


@pytest.mark.usefixtures("any_db")
def test_lazy_loads_from_two_call_sites_are_judged_apart(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_sites="""
        from sqlalchemy import select
        from models import User

        def test_one_each(session):
            first, second = session.scalars(select(User).limit(2)).all()
            len(first.items)
            len(second.items)
        """
    )
    app.runpytest().assert_outcomes(passed=1)


@pytest.mark.usefixtures("any_db")
def test_call_site_skips_library_wrappers(app: pytest.Pytester) -> None:
    app.makepyfile(
        repository="""
        from sqlalchemy import select
        from models import Item

        def items_of(conn, user_id):
            return conn.execute(select(Item).where(Item.user_id == user_id)).all()
        """,
        test_wrapped="""
        from sqlalchemy import select
        from models import User
        from repository import items_of

        def test_loop_through_repository(engine):
            with engine.connect() as conn:
                for user in conn.execute(select(User)).all():
                    items_of(conn, user.id)
        """,
    )
    result = app.runpytest()
    result.assert_outcomes(failed=1)
    # the helper's line is not the loop: the loop that calls it leads, and the fix names it
    result.stdout.fnmatch_lines(
        [
            "  in the loop at test_wrapped.py:8 in test_loop_through_repository",
            "  which calls repository.py:5 in items_of",
            "  SELECT * FROM items WHERE items.user_id = ?*",
            "Fix: fetch the rows for all the keys in one query before the loop at "
            "test_wrapped.py:8 *",
        ]
    )
    configured = app.runpytest("-o", "dbguard_library_modules=repository")
    configured.assert_outcomes(failed=1)
    configured.stdout.fnmatch_lines(["  at test_wrapped.py:8 in test_loop_through_repository"])
