"""The rules, in-process, on recorded observations: what the runner saw of the example
migrations on PostgreSQL 15 and 18 (recorded/, written by the runner; the absolute paths left
out), and small hand-made statements for the cases the examples do not show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_dbguard.migrations import rules
from pytest_dbguard.migrations.rules import allowed, round_trip_findings, safety_findings

RECORDED = Path(__file__).parent / "recorded"

EXPECTED_SAFETY = {
    "0001": [],
    "0002": [],
    "0003": [],
    "0004": ["index_without_concurrently", "no_lock_timeout"],
    "0005": ["volatile_default"],
    "0006": ["set_not_null_scan"],
    "0007": ["constraint_without_not_valid", "constraint_without_not_valid"],
    "0008": ["type_change_rewrite"],
    "0009": ["drop_column", "drop_table"],
    "0010": [],
    "0011": [],
    "0012": ["not_null_without_default"],
}
EXPECTED_ROUND_TRIP = {
    "0010": ["irreversible"],
    "0011": ["downgrade_schema", "reupgrade_fails"],
}


def recorded(version: int) -> dict[str, dict[str, Any]]:
    data = json.loads((RECORDED / f"research_app_pg{version}.json").read_text())
    assert data["server_version"] // 10000 == version
    return {entry["revision"]: entry for entry in data["revisions"]}


@pytest.mark.parametrize("version", [15, 18])
def test_each_example_revision_has_its_findings(version: int) -> None:
    for revision, entry in recorded(version).items():
        found = sorted(finding.rule for finding in safety_findings(entry))
        assert found == EXPECTED_SAFETY[revision], revision
        found = sorted(finding.rule for finding in round_trip_findings(entry))
        assert found == EXPECTED_ROUND_TRIP.get(revision, []), revision


def test_a_finding_names_the_line_the_statement_the_lock_and_the_fix() -> None:
    (index, timeout) = safety_findings(recorded(15)["0004"])
    assert index.message().splitlines() == [
        "CREATE INDEX without CONCURRENTLY on prompts, an existing table",
        "  at migrations/versions/0004_index_prompt_models.py:23 (revision 0004)",
        "  CREATE INDEX ix_prompts_model ON prompts (model)",
        "  Lock: SHARE on prompts: every INSERT, UPDATE and DELETE on prompts waits",
        "  the lock is held until the index is built, and until the migration's transaction ends",
        "Fix: build it CONCURRENTLY (writes go on), outside the migration's transaction:",
        "    with op.get_context().autocommit_block():",
        '        op.create_index("ix_prompts_model", "prompts", ["model"], '
        "postgresql_concurrently=True)",
        "    (CREATE INDEX CONCURRENTLY ix_prompts_model ON public.prompts USING btree (model))",
    ]
    assert (timeout.table, timeout.lock, timeout.line) == ("prompts", "SHARE", 23)


def test_the_failing_not_null_column_is_a_safety_finding_not_a_failed_upgrade() -> None:
    entry = recorded(18)["0012"]
    assert entry["upgrade_error"]["sqlstate"] == "23502"
    (finding,) = safety_findings(entry)
    assert finding.diagnosis == (
        "ADD COLUMN region NOT NULL without a default fails on users, a table that holds data"
    )
    assert finding.lock == "ACCESS EXCLUSIVE"
    assert round_trip_findings(entry) == []


def test_a_warn_verdict_is_carried_by_every_safety_finding() -> None:
    found = safety_findings(recorded(15)["0009"], verdict="warn")
    assert {finding.verdict for finding in found} == {"warn"}


def test_the_round_trip_findings_point_at_the_downgrade() -> None:
    source = "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    findings = {f.rule: f for f in round_trip_findings(recorded(15)["0011"], source)}
    assert findings["downgrade_schema"].line == 5
    assert findings["downgrade_schema"].evidence == (
        "type research_stage is extra after the downgrade: scoping, analysis, writing",
    )
    assert findings["reupgrade_fails"].line == 27  # the CREATE TYPE line, from the traceback


def statement(sql: str, changes: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A statement as the runner records it, by hand."""
    return {
        "sql": sql,
        "site": {"file": "versions/x.py", "line": 10},
        "in_transaction": True,
        "lock_timeout": "5s",
        "locks": {"items": ["ACCESS EXCLUSIVE"]},
        "new_locks": {"items": ["ACCESS EXCLUSIVE"]},
        "changes": changes,
        "error": None,
        **more,
    }


def revision(*statements: dict[str, Any], rows: tuple[str, ...] = ("items",)) -> dict[str, Any]:
    return {
        "revision": "x",
        "file": "versions/x.py",
        "tables_before": ["items"],
        "tables_with_rows": list(rows),
        "statements": list(statements),
    }


def rules_of(entry: dict[str, Any]) -> list[str]:
    return sorted(finding.rule for finding in safety_findings(entry))


def test_a_type_change_without_rewrite_is_safe() -> None:
    change = {"table": "items", "column": "title", "old": "character varying(50)"}
    changes = {"type_changes": [{**change, "new": "character varying(100)"}]}
    sql = "ALTER TABLE items ALTER COLUMN title TYPE VARCHAR(100)"
    assert rules_of(revision(statement(sql, changes))) == []
    rewritten = {**changes, "rewritten_tables": [{"table": "items"}]}
    assert rules_of(revision(statement(sql, rewritten))) == ["type_change_rewrite"]


def test_a_rewrite_no_other_rule_explains() -> None:
    changes = {"rewritten_tables": [{"table": "items"}]}
    entry = revision(statement("VACUUM FULL items", changes))
    assert rules_of(entry) == ["table_rewrite"]


def test_indexes_built_concurrently_or_on_new_tables_are_safe() -> None:
    index = {"table": "items", "name": "ix", "definition": "CREATE INDEX ix ON items (a)"}
    concurrent = statement(
        "CREATE INDEX CONCURRENTLY ix ON items (a)",
        {"added_indexes": [index]},
        in_transaction=False,
        locks={},
        new_locks={},
    )
    assert rules_of(revision(concurrent)) == []
    new_table = {**index, "table": "fresh"}
    entry = revision(statement("CREATE INDEX ix ON fresh (a)", {"added_indexes": [new_table]}))
    assert rules_of(entry) == []


def test_a_unique_constraint_on_an_existing_table_builds_its_index_under_its_lock() -> None:
    index = {
        "table": "items",
        "name": "uq_items_code",
        "definition": "CREATE UNIQUE INDEX uq_items_code ON public.items USING btree (code)",
    }
    entry = revision(
        statement(
            "ALTER TABLE items ADD CONSTRAINT uq_items_code UNIQUE (code)",
            {"added_indexes": [index]},
        )
    )
    (finding,) = safety_findings(entry)
    assert finding.diagnosis.startswith("ADD UNIQUE (an index build) without CONCURRENTLY")
    assert "ADD CONSTRAINT uq_items_code UNIQUE USING INDEX uq_items_code" in finding.fix


def test_constraints_added_not_valid_then_validated_are_safe() -> None:
    added = {
        "table": "items",
        "name": "fk",
        "kind": "foreign key",
        "definition": "FOREIGN KEY (a) REFERENCES users(id) NOT VALID",
        "validated": False,
    }
    entry = revision(
        statement("ALTER TABLE items ADD CONSTRAINT fk ...", {"added_constraints": [added]}),
        statement(
            "ALTER TABLE items VALIDATE CONSTRAINT fk",
            {"validated_constraints": [{"table": "items", "name": "fk"}]},
        ),
    )
    assert rules_of(entry) == []


def test_drops_of_empty_tables_and_of_new_columns_are_not_data_losses() -> None:
    changes = {
        "dropped_tables": [{"table": "items"}],
        "dropped_columns": [{"table": "items", "column": "a"}],
    }
    assert rules_of(revision(statement("DROP TABLE items", changes), rows=())) == []


def test_no_lock_timeout_is_one_finding_per_revision_for_blocking_locks() -> None:
    first = statement("ALTER TABLE items ADD COLUMN a int", {}, lock_timeout="0")
    second = statement("ALTER TABLE items ADD COLUMN b int", {}, lock_timeout="0")
    (finding,) = safety_findings(revision(first, second))
    assert finding.rule == "no_lock_timeout"
    assert finding.evidence[-1] == "and 1 more lock(s) of this revision taken without it"
    weak = statement(
        "UPDATE items SET a = 1", {}, lock_timeout="0", new_locks={"items": ["ROW EXCLUSIVE"]}
    )
    assert rules_of(revision(weak)) == []
    new_table = statement("CREATE TABLE t ()", {}, lock_timeout="0", new_locks={"t": ["SHARE"]})
    assert rules_of(revision(new_table)) == []


def test_allow_comments_on_the_line_or_the_line_above() -> None:
    lines = [
        "    # dbguard: allow drop_table",
        '    op.drop_table("legacy")',
        '    op.drop_column("a", "b")  # dbguard: allow drop_column, no_lock_timeout',
        "    op.execute('x')",
    ]
    assert allowed(lines, 2) == {"drop_table"}
    assert allowed(lines, 3) == {"drop_column", "no_lock_timeout"}
    assert allowed(lines, 4) == {"drop_column", "no_lock_timeout"}  # the line above
    assert allowed(lines, 1) == {"drop_table"}
    assert allowed(lines, None) == frozenset()
    assert allowed(lines, 99) == frozenset()


def test_strongest_lock() -> None:
    assert rules.strongest(["ACCESS SHARE", "SHARE", "ROW EXCLUSIVE"]) == "SHARE"
    assert rules.strongest([]) is None


def test_a_lock_taken_earlier_in_the_transaction_is_named_as_such() -> None:
    foreign_key = safety_findings(recorded(15)["0007"])[0]
    assert (foreign_key.table, foreign_key.lock) == ("research_items", "ACCESS EXCLUSIVE")
    assert foreign_key.evidence[1:] == (
        "also SHARE ROW EXCLUSIVE on users, the referenced table",
        "ACCESS EXCLUSIVE on research_items was taken by an earlier statement of the "
        "migration's transaction, and is held until it commits (this statement asked for "
        "SHARE ROW EXCLUSIVE)",
    )
