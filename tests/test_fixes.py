"""Verified index suggestions, schema checks and plan lints."""

from __future__ import annotations

import pytest


def test_a_suggested_index_is_verified_and_gone_afterwards(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_suggest="""
        from sqlalchemy import text

        def test_status(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": "active"}).all()
                conn.execute(text("SELECT * FROM users WHERE status = :s"), {"s": "gone"}).all()
                leftovers = conn.execute(text(
                    "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'idx%'")).scalar()
                assert leftovers == 0
                assert conn.execute(text("SHOW enable_seqscan")).scalar() == "on"
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Missing index: no index serves users (status)",
            "Fix, verified on this database (with it the plan reads users through an index):",
            "  CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
        ]
    )
    result.stdout.no_fnmatch_line("*AssertionError*")


def test_composite_candidates_follow_equality_range_then_sort(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBGUARD_USERS", "300")
    monkeypatch.setenv("DBGUARD_DROP_INDEXES", "ix_items_user_id")
    plan_app.makepyfile(
        test_composite="""
        from sqlalchemy import text

        def test_filtered_page(engine):
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT * FROM items WHERE title = :t AND user_id > :u ORDER BY id LIMIT 5"
                ), {"t": "item 7", "u": 3}).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Missing index: no index serves items (title, user_id)",
            "Fix, verified on this database*",
            "  CREATE INDEX CONCURRENTLY idx_items_title_user_id ON items (title, user_id);",
        ]
    )


def test_a_condition_no_plain_index_serves_is_not_a_finding(plan_app: pytest.Pytester) -> None:
    """A cast or a function of the column: no index on the column removes the read, so no
    missing-index finding (an expression index would: the plugin does not guess one)."""
    plan_app.makepyfile(
        test_unhelpful="""
        from sqlalchemy import text

        def test_cast(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE id::text = :v"), {"v": "3"}).all()

        def test_expression(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE lower(status) = :v"), {"v": "a"}).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*CREATE INDEX*")


SCHEMA = """
import pytest
from sqlalchemy import text

DDL = '''
CREATE TABLE owners (id serial PRIMARY KEY, name text);
CREATE TABLE pets (id serial PRIMARY KEY, owner_id integer REFERENCES owners (id), name text);
CREATE TABLE visits (
    id serial PRIMARY KEY, pet_id integer, owner_id integer, at date,
    FOREIGN KEY (owner_id, pet_id) REFERENCES pets_pairs (owner_id, pet_id)
);
CREATE TABLE audit (at timestamp, what text);
CREATE INDEX ix_visits_pet_owner_at ON visits (pet_id, owner_id, at);
CREATE INDEX ix_pets_name ON pets (name);
CREATE INDEX ix_pets_name_owner ON pets (name, owner_id);
'''


@pytest.fixture
def schema(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS visits, audit, pets, owners, pets_pairs CASCADE"))
        conn.execute(text("CREATE TABLE pets_pairs (owner_id integer, pet_id integer, "
                          "PRIMARY KEY (owner_id, pet_id))"))
        conn.execute(text(DDL))
    return engine
"""


def test_schema_checks_once_per_session(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        schema_fixture=SCHEMA,
        test_schema="""
        from sqlalchemy import text
        from schema_fixture import schema

        def test_one(schema):
            with schema.connect() as conn:
                conn.execute(text("SELECT 1")).all()

        def test_two(schema):
            with schema.connect() as conn:
                conn.execute(text("SELECT 2")).all()
        """,
    )
    quiet = plan_app.runpytest()
    quiet.assert_outcomes(passed=2)
    quiet.stdout.no_fnmatch_line("*Schema checks*")
    result = plan_app.runpytest("--dbguard-schema=fail")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "Schema checks: 3 finding(s)",
            "  FAIL Table audit has no primary key*",
            "    ALTER TABLE audit ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;*",
            "  FAIL Index ix_pets_name on pets (name) duplicates the leading columns of ix_pets_name_owner*",
            "    DROP INDEX CONCURRENTLY ix_pets_name;",
            "  FAIL Foreign key pets_owner_id_fkey on pets (owner_id) -> owners has no index*",
            "    CREATE INDEX CONCURRENTLY idx_pets_owner_id ON pets (owner_id);",
        ]
    )
    # the composite foreign key of visits is served by (pet_id, owner_id, at): no finding
    result.stdout.no_fnmatch_line("*visits*")
    plan_app.runpytest("--dbguard-schema=warn").assert_outcomes(passed=2)
    assert plan_app.runpytest("--dbguard-schema=warn").ret == pytest.ExitCode.OK


def test_schema_check_on_one_engine_from_the_fixture(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        schema_fixture=SCHEMA,
        test_schema_fixture="""
        import pytest
        from sqlalchemy import text
        from schema_fixture import schema

        def test_checked(schema, dbguard):
            dbguard.check_schema(schema)

        @pytest.mark.num_queries(0)
        def test_warned(schema, dbguard):
            with pytest.warns(Warning, match="Schema checks: 3 finding"):
                findings = dbguard.check_schema(schema, mode="warn")
            assert sorted(f.check for f in findings) == [
                "missing_primary_key", "redundant_index", "unindexed_foreign_key"]
        """,
    )
    result = plan_app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["Schema checks: 3 finding(s)", "*Table audit has no primary key*"])


LINTS = """
import pytest
from sqlalchemy import text

def run(engine, sql):
    with engine.connect() as conn:
        conn.execute(text(sql)).all()

def test_correlated_subquery(engine):
    run(engine, "SELECT users.id, (SELECT count(*) FROM items WHERE items.user_id = users.id) FROM users")

def test_cartesian_join(engine):
    run(engine, "SELECT users.email, items.title FROM users, items")

def test_sort_without_index(engine):
    run(engine, "SELECT * FROM items ORDER BY title LIMIT 3")

def test_sort_by_an_indexed_key(engine):
    run(engine, "SELECT * FROM items ORDER BY id LIMIT 3")

def test_grouped_join(engine):
    run(engine, "SELECT users.id, count(items.id) FROM users LEFT JOIN items ON items.user_id = users.id GROUP BY users.id")

@pytest.mark.allow_lint("correlated_subquery", "cartesian_join")
def test_allowed(engine):
    run(engine, "SELECT users.id, (SELECT count(*) FROM items WHERE items.user_id = users.id) FROM users")
    run(engine, "SELECT users.email, items.title FROM users, items")
"""


def test_plan_lints(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_plan_lint_cases=LINTS)  # a name no other test module has
    warned = plan_app.runpytest()
    warned.assert_outcomes(passed=6, warnings=3)
    failed = plan_app.runpytest("--dbguard-lints=fail")
    failed.assert_outcomes(passed=3, failed=3)
    failed.stdout.fnmatch_lines(
        [
            "Correlated subquery: SubPlan ? under * runs once for each of ~* rows",
            "*Fix: rewrite it as a JOIN with GROUP BY*",
            '*or accept it: @pytest.mark.allow_lint("correlated_subquery")',
        ]
    )
    failed.stdout.fnmatch_lines(
        ["Cartesian product: Nested Loop of items and users has no join condition (~* rows)"]
    )
    failed.stdout.fnmatch_lines(
        [
            "Sort without an index: ORDER BY items.title ... LIMIT reads and sorts all ~* rows of items",
            "*Fix: an index on items (title) returns the rows already in order: CREATE INDEX CONCURRENTLY idx_items_title ON items (title);",
        ]
    )
    plan_app.runpytest("--dbguard-lints=off").assert_outcomes(passed=6, warnings=0)
    plan_app.runpytest("-o", "dbguard_lint_names=cartesian_join").assert_outcomes(
        passed=6, warnings=1
    )


def test_unknown_lint_names_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.allow_lint("cartesian")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*usage error: *: unknown plan lint 'cartesian'; known lints: *"])
    bad_ini = pytester.runpytest("-o", "dbguard_lint_names=sorts")
    bad_ini.stderr.fnmatch_lines(["ERROR: *dbguard_lint_names: unknown plan lint 'sorts'*"])
