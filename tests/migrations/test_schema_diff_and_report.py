"""The structural compare of two catalog states, a statement's catalog changes, and the
"Migration safety" section of the report: pure functions, on hand-made states."""

from __future__ import annotations

import copy
from typing import Any

from pytest_dbguard.migrations import markdown_section
from pytest_dbguard.migrations.rules import MigrationFinding
from pytest_dbguard.migrations.schema_diff import differences, statement_changes, structure


def state() -> dict[str, Any]:
    """A catalog state as observe.STATE_QUERY returns it: one table, users."""
    return {
        "lock_timeout": "0",
        "locks": [],
        "types": {"mood": ["happy", "sad"]},
        "tables": {
            "16384": {
                "name": "users",
                "relfilenode": 16384,
                "columns": {
                    "1": {"name": "id", "type": "integer", "notnull": True, "default": None},
                    "2": {
                        "name": "email",
                        "type": "character varying(200)",
                        "notnull": False,
                        "default": None,
                    },
                },
                "constraints": {
                    "users_pkey": {
                        "type": "p",
                        "definition": "PRIMARY KEY (id)",
                        "validated": True,
                    }
                },
                "indexes": {
                    "users_pkey": {
                        "definition": "CREATE UNIQUE INDEX users_pkey ON public.users USING "
                        "btree (id)",
                        "valid": True,
                    }
                },
            }
        },
    }


def test_the_same_schema_has_no_differences_whatever_the_oids_and_column_order() -> None:
    before = state()
    after = copy.deepcopy(before)
    table = after["tables"].pop("16384")
    table["relfilenode"] = 99999
    table["columns"] = {"3": table["columns"]["2"], "1": table["columns"]["1"]}
    after["tables"]["99999"] = table
    assert differences(structure(before), structure(after), "the downgrade") == []


def test_differences_name_what_is_missing_extra_or_changed() -> None:
    before = state()
    after = copy.deepcopy(before)
    users = after["tables"]["16384"]
    users["columns"]["2"]["notnull"] = True
    users["columns"]["3"] = {"name": "region", "type": "text", "notnull": False, "default": None}
    del users["indexes"]["users_pkey"]
    after["types"]["mood"] = ["happy", "sad", "meh"]
    after["types"]["stage"] = ["a"]
    assert differences(structure(before), structure(after), "the downgrade") == [
        "column users.region is extra after the downgrade: text NULL",
        "column users.email (nullable): yes before, no after the downgrade",
        "index users_pkey on users is missing after the downgrade: CREATE UNIQUE INDEX "
        "users_pkey ON public.users USING btree (id)",
        "type stage is extra after the downgrade: a",
        "type mood: happy, sad before, happy, sad, meh after the downgrade",
    ]
    gone = copy.deepcopy(before)
    gone["tables"] = {}
    assert differences(structure(before), structure(gone), "the downgrade") == [
        "table users is missing after the downgrade"
    ]


def test_statement_changes_follow_a_table_through_a_rename() -> None:
    before = state()
    after = copy.deepcopy(before)
    after["tables"]["16384"]["name"] = "accounts"
    assert statement_changes(before, after) == {}


def test_statement_changes() -> None:
    before = state()
    before["tables"]["16384"]["constraints"]["ck_email"] = {
        "type": "c",
        "definition": "CHECK ((email IS NOT NULL)) NOT VALID",
        "validated": False,
    }
    after = copy.deepcopy(before)
    users = after["tables"]["16384"]
    users["relfilenode"] = 20000
    users["columns"]["1"]["type"] = "bigint"
    users["columns"]["2"]["notnull"] = True
    users["constraints"]["ck_email"]["validated"] = True
    users["indexes"]["ix_email"] = {"definition": "CREATE INDEX ix_email ...", "valid": True}
    assert statement_changes(before, after) == {
        "rewritten_tables": [{"table": "users"}],
        "type_changes": [{"table": "users", "column": "id", "old": "integer", "new": "bigint"}],
        # the CHECK was not validated before the statement: it proves nothing yet
        "not_null_set": [{"table": "users", "column": "email", "proven": False}],
        "validated_constraints": [{"table": "users", "name": "ck_email"}],
        "added_indexes": [
            {"table": "users", "name": "ix_email", "definition": "CREATE INDEX ix_email ..."}
        ],
    }


def test_a_validated_check_proves_not_null_even_for_a_quoted_column() -> None:
    before = state()
    users = before["tables"]["16384"]
    users["columns"]["2"]["name"] = "E-mail"
    users["constraints"]["ck"] = {
        "type": "c",
        "definition": 'CHECK (("E-mail" IS NOT NULL))',
        "validated": True,
    }
    after = copy.deepcopy(before)
    after["tables"]["16384"]["columns"]["2"]["notnull"] = True
    changes = statement_changes(before, after)
    assert changes["not_null_set"] == [{"table": "users", "column": "E-mail", "proven": True}]
    users["constraints"]["ck"]["definition"] = 'CHECK (("E-mail" IS NOT NULL) OR (id > 0))'
    assert statement_changes(before, after)["not_null_set"][0]["proven"] is False


def test_created_and_dropped_tables_and_columns() -> None:
    before = state()
    after = copy.deepcopy(before)
    after["tables"]["20000"] = after["tables"].pop("16384")
    assert statement_changes(before, after) == {
        "created_tables": [{"table": "users"}],
        "dropped_tables": [{"table": "users"}],
    }
    after = copy.deepcopy(before)
    del after["tables"]["16384"]["columns"]["2"]
    assert statement_changes(before, after) == {
        "dropped_columns": [{"table": "users", "column": "email"}]
    }


def test_markdown_section() -> None:
    finding = MigrationFinding(
        "index_without_concurrently",
        "fail",
        "0004",
        "migrations/versions/0004_index.py",
        23,
        "CREATE INDEX without CONCURRENTLY on prompts, an existing table",
        statement="CREATE INDEX ix_prompts_model ON prompts (model)",
        table="prompts",
        lock="SHARE",
        evidence=("the lock is held until the index is built",),
        fix="build it CONCURRENTLY:\n  op.create_index(...)",
    )
    section = markdown_section([finding.as_data()])
    assert section.splitlines()[:5] == [
        "## Migration safety",
        "",
        "| verdict | revision | where | finding |",
        "|---|---|---|---|",
        "| FAIL | 0004 | `migrations/versions/0004_index.py:23` | CREATE INDEX without "
        "CONCURRENTLY on prompts, an existing table |",
    ]
    assert "- Statement: `CREATE INDEX ix_prompts_model ON prompts (model)`" in section
    assert "- Lock: SHARE on `prompts`" in section
    assert "```text\nbuild it CONCURRENTLY:\n  op.create_index(...)\n```" in section
    assert markdown_section([]).startswith("## Migration safety\n\nNo finding")
