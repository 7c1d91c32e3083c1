"""The research app's migrations, checked with pytest-dbguard's ``dbguard_migrations`` fixture.

Every revision is upgraded on a fresh PostgreSQL database whose tables hold rows (the research
app's, from research_data.py), with what each statement locks and rewrites read from the
server; then downgraded, its schema compared with the one before, and upgraded again. The whole
history is walked once, by the first test that asks; each test checks one revision.

The safe revisions pass. The others are demonstrations: ``xfail(strict=True,
raises=DBGuardFailure)``, and ``fails_with`` checks that the failure says what it must (the
finding, the revision line, the lock and its table, the safe pattern). Run
``python -m pytest examples/migrations --runxfail`` to read the full messages, or
``python -m pytest examples/migrations --dbguard-migrations`` for the test per revision that
the option adds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pytest_dbguard import DBGuardFailure
from pytest_dbguard.migrations import DBGuardMigrations
from pytest_dbguard.migrations.squawk import executable as squawk_executable

demonstration = pytest.mark.xfail(strict=True, raises=DBGuardFailure)


@contextmanager
def fails_with(*patterns: str) -> Iterator[None]:
    """Expect a pytest-dbguard failure whose message matches every pattern, and let it through
    (it is the expected failure of the test)."""
    with pytest.raises(DBGuardFailure) as caught:
        yield
    message = str(caught.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in the failure:\n{message}"
    raise caught.value


def test_history_has_a_single_head(dbguard_migrations: DBGuardMigrations) -> None:
    dbguard_migrations.check_single_head()
    assert dbguard_migrations.revisions[0] == "0001"


def test_new_tables_are_safe(dbguard_migrations: DBGuardMigrations) -> None:
    """0001 creates tables: nothing existed, nothing held data, nobody waited."""
    dbguard_migrations.check("0001")


def test_review_queue_is_safe(dbguard_migrations: DBGuardMigrations) -> None:
    """0002: lock_timeout, a nullable column, an index built CONCURRENTLY."""
    dbguard_migrations.check("0002")


def test_token_counts_nullable_first_then_constrained(
    dbguard_migrations: DBGuardMigrations,
) -> None:
    """0003: nullable column, populated, CHECK NOT VALID, VALIDATE, SET NOT NULL (no scan)."""
    dbguard_migrations.check("0003")


@demonstration
def test_index_without_concurrently(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"CREATE INDEX without CONCURRENTLY on prompts",
        r"at migrations/versions/0004_index_prompt_models\.py:23 \(revision 0004\)",
        r"CREATE INDEX ix_prompts_model ON prompts \(model\)",
        r"Lock: SHARE on prompts: every INSERT, UPDATE and DELETE on prompts waits",
        r'op\.create_index\("ix_prompts_model", "prompts", \["model"\], '
        r"postgresql_concurrently=True\)",
    ):
        dbguard_migrations.check("0004")


@demonstration
def test_no_lock_timeout(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"No lock_timeout: the revision waits as long as it takes for its SHARE lock on prompts",
        r"SET LOCAL lock_timeout = '5s'",
    ):
        dbguard_migrations.check("0004")


@demonstration
def test_volatile_default_rewrites_the_table(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"ADD COLUMN public_id with a volatile default rewrote research_items",
        r"0005_public_ids\.py:26",
        r"Lock: ACCESS EXCLUSIVE on research_items: every read and write",
        r"DEFAULT gen_random_uuid\(\) gives each row its own value",
    ):
        dbguard_migrations.check("0005")


@demonstration
def test_set_not_null_reads_the_table(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"SET NOT NULL on prompts\.model without a validated CHECK",
        r"ALTER TABLE prompts ALTER COLUMN model SET NOT NULL",
        r"Lock: ACCESS EXCLUSIVE on prompts",
        r"postgresql_not_valid=True",
    ):
        dbguard_migrations.check("0006")


@demonstration
def test_constraints_without_not_valid(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"FOREIGN KEY fk_research_items_reviewer_id_users added to research_items without "
        r"NOT VALID",
        r"also SHARE ROW EXCLUSIVE on users, the referenced table",
        r"CHECK ck_research_items_status added to research_items without NOT VALID",
        r"VALIDATE CONSTRAINT ck_research_items_status",
    ):
        dbguard_migrations.check("0007")


@demonstration
def test_type_change_rewrites_the_table(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"prompts\.id changed type integer -> bigint, which rewrote prompts",
        r"Lock: ACCESS EXCLUSIVE on prompts",
    ):
        dbguard_migrations.check("0008")


@demonstration
def test_drops_of_data(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"DROP COLUMN research_items\.notes: the column held data",
        r"DROP TABLE legacy_exports: the table held data",
        r"# dbguard: allow drop_table",
    ):
        dbguard_migrations.check("0009")


@demonstration
def test_irreversible_revision(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"cannot be reversed: downgrade\(\) raises NotImplementedError: the original spelling",
        r"0010_lowercase_models\.py:24",
    ):
        dbguard_migrations.check("0010")


@demonstration
def test_downgrade_leaves_a_type_behind(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"The downgrade does not give back the schema of revision 0010",
        r"type research_stage is extra after the downgrade",
        r'Upgrading again after the downgrade fails: type "research_stage" already exists',
    ):
        dbguard_migrations.check("0011")


@demonstration
def test_not_null_column_without_default(dbguard_migrations: DBGuardMigrations) -> None:
    with fails_with(
        r"ADD COLUMN region NOT NULL without a default fails on users, a table that holds data",
        r"PostgreSQL: column \"region\" of relation \"users\" contains null values",
        r"add the column nullable, populate it, then constrain it",
    ):
        dbguard_migrations.check("0012")


@pytest.mark.skipif(squawk_executable() is None, reason="squawk-cli is not installed")
def test_squawk_reads_the_offline_sql(dbguard_migrations: DBGuardMigrations) -> None:
    """With squawk installed, its rules run on the SQL of ``alembic upgrade 0003:0004 --sql``,
    traced to the same revision line (warnings: the observed findings are the verdict)."""
    findings = dbguard_migrations.findings("0004")
    squawk = [finding for finding in findings if finding.rule.startswith("squawk:")]
    assert "squawk:require-concurrent-index-creation" in {finding.rule for finding in squawk}
    assert {finding.line for finding in squawk} == {23}
