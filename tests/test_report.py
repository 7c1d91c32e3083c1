"""The Markdown and JSON reports, and the GitHub step summary."""

from __future__ import annotations

import json

import jsonschema
import pytest

from pytest_dbguard import REPORT_SCHEMA

SUITE = """
import pytest
from sqlalchemy import select, text
from models import User

def digest(session):
    for user in session.scalars(select(User)):
        len(user.items)

def test_digest_one(session):
    digest(session)

def test_digest_two(session):
    digest(session)

@pytest.mark.max_queries(1)
def test_lookup_by_email(session):
    session.scalars(select(User).where(User.email == "secret-value@example.com")).all()
    session.scalars(select(User).where(User.id == 1)).all()

def test_clean(session):
    session.scalars(select(User).where(User.id == 2)).all()
"""


@pytest.mark.usefixtures("pg_db")
def test_markdown_and_json_reports(app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = app.path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    app.makepyfile(test_suite=SUITE)
    result = app.runpytest(
        "--dbguard-report=out/report.md",
        "--dbguard-json=out/report.json",
        "--dbguard-analyze",
        "--dbguard-step-summary",
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        ["dbguard: report written to out/report.md", "dbguard: report written to out/report.json"]
    )
    markdown = (app.path / "out/report.md").read_text()
    data = json.loads((app.path / "out/report.json").read_text())
    jsonschema.validate(data, json.loads(REPORT_SCHEMA.read_text()))

    assert data["summary"]["tests"] == 4
    kinds = {finding["kind"]: finding for finding in data["findings"]}
    assert set(kinds) == {"nplusone", "missing_index", "query_budget"}
    assert kinds["nplusone"]["tests"] == [
        "test_suite.py::test_digest_one",
        "test_suite.py::test_digest_two",
    ]
    missing = kinds["missing_index"]["details"]
    assert missing["verified"] is True
    assert [index["create_sql"] for index in missing["indexes"]] == [
        "CREATE INDEX CONCURRENTLY idx_users_email ON users (email);"
    ]
    assert missing["analyze"]["actual_rows"] == 0

    assert markdown.startswith("# pytest-dbguard report\n")
    assert markdown.count("# Database Optimization: N+1 query: User.items") == 1
    section = markdown.split("# Database Optimization: Missing index")[1]
    section = section.split("\n# ")[0]
    headings = [line for line in section.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Current Performance",
        "## EXPLAIN (Before)",
        "## Recommended Changes",
        "## EXPLAIN (After)",
        "## Migration Script",
        "## Impact",
    ]
    for expected in (
        "- PostgreSQL reads every row of `users`: a sequential scan, keeping rows with `(",
        "- Indexes of the tables it reads:",
        "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
        "-> Seq Scan on users",
        "-> Index Scan using idx_users_email on users",
        "CREATE INDEX CONCURRENTLY idx_users_email ON users (email);",
        "with op.get_context().autocommit_block():",
        "postgresql_concurrently=True",
        "- Whole-table reads removed: `users`",
        "- Estimated cost on the test data (indexed plan): ",
        "Measured (EXPLAIN ANALYZE on the test data)",
    ):
        assert expected in section, expected
    nplusone = markdown.split("# Database Optimization: N+1 query")[1].split("\n# ")[0]
    assert "select(User).options(selectinload(User.items))" in nplusone
    assert "No schema change: the fix is in the application's code." in nplusone

    step = summary.read_text()
    assert step.startswith("earlier step\n# pytest-dbguard report\n")
    for text in (markdown, json.dumps(data), step):
        assert "secret-value" not in text
        assert str(app.path) not in text


@pytest.mark.usefixtures("pg_db")
def test_no_report_without_the_options(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = app.path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    app.makepyfile(test_suite=SUITE)
    app.runpytest().assert_outcomes(passed=1, failed=3)
    assert not list(app.path.rglob("*.json"))
    assert summary.read_text() == "earlier step\n"


@pytest.mark.usefixtures("pg_db")
def test_an_unwritable_step_summary_is_an_error_not_a_traceback(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(app.path / "missing-dir" / "summary.md"))
    app.makepyfile(test_clean="def test_nothing():\n    pass\n")
    result = app.runpytest("--dbguard-step-summary")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "dbguard: ERROR GITHUB_STEP_SUMMARY (*summary.md): cannot append the report: No such file or directory"
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_explain_analyze_never_runs_a_statement_that_writes(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(
        test_writes="""
        from sqlalchemy import text

        def test_sequence_and_update(engine):
            with engine.connect() as conn:
                conn.execute(text("CREATE SEQUENCE IF NOT EXISTS counter"))
                conn.commit()
                assert conn.execute(text("SELECT nextval('counter')")).scalar() == 1
                assert conn.execute(text("SELECT nextval('counter')")).scalar() == 2
                conn.execute(text("UPDATE users SET status = 'x' WHERE id = 1"))
                conn.execute(text("INSERT INTO users (email, status) VALUES ('a', 'b')"))
                conn.commit()
                assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 6
                assert conn.execute(text("SELECT nextval('counter')")).scalar() == 3
        """
    )
    result = plan_app.runpytest("--dbguard-analyze", "--dbguard-duplicates=off")
    result.assert_outcomes(passed=1)
