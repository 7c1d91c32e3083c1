"""The baseline: a suite with many known findings turns green with the file written by
--dbguard-baseline-update, stays green when lines move, still fails on a new finding, and the
update prunes what was fixed and keeps what did not run."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import jsonschema
import pytest

from pytest_dbguard import REPORT_SCHEMA

# The application: two whole-table reads (users.status, items.title have no index) and a loop
# of lookups (an N+1).
QUERIES = """
from sqlalchemy import text


def users_with_status(conn, status):
    return conn.execute(text("SELECT id FROM users WHERE status = :s"), {"s": status}).all()


def items_titled(conn, title):
    return conn.execute(text("SELECT id FROM items WHERE title = :t"), {"t": title}).all()


def emails(conn, ids):
    return [
        conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": u}).scalar()
        for u in ids
    ]
"""

KNOWN = """
import pytest
from queries import emails, users_with_status


@pytest.mark.parametrize("status", ["active", "gone", "new", "old", "banned"])
def test_status(engine, status):
    with engine.connect() as conn:
        users_with_status(conn, status)


@pytest.mark.parametrize("first", range(4))
def test_emails(engine, first):
    with engine.connect() as conn:
        emails(conn, [first + 1, first + 2, first + 3, first + 4])


def test_clean(engine):
    with engine.connect() as conn:
        emails(conn, [1])
"""

NEW = """
from queries import items_titled


def test_titles(engine):
    with engine.connect() as conn:
        items_titled(conn, "item 3")
"""

BASELINE = "dbguard-baseline.json"


@pytest.fixture
def suite(plan_app: pytest.Pytester) -> pytest.Pytester:
    plan_app.makepyfile(queries=QUERIES, test_known=KNOWN)
    return plan_app


def read(app: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((app.path / BASELINE).read_text())
    return data


def update(app: pytest.Pytester, *args: str) -> pytest.RunResult:
    return app.runpytest(f"--dbguard-baseline={BASELINE}", "--dbguard-baseline-update", *args)


def test_a_baseline_turns_a_suite_with_known_findings_green_and_fails_a_new_one(
    suite: pytest.Pytester,
) -> None:
    suite.runpytest().assert_outcomes(passed=1, failed=9)

    result = update(suite)
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [f"dbguard: baseline {BASELINE} written: 2 findings accepted (2 added, 0 pruned)"]
    )
    text = (suite.path / BASELINE).read_text()
    data = json.loads(text)
    assert data["format"] == 1
    assert [(e["kind"], e["module"]) for e in data["findings"]] == [
        ("missing_index", "test_known.py"),
        ("nplusone", "test_known.py"),
    ]
    missing, nplusone = data["findings"]
    assert missing["statement"] == "SELECT id FROM users WHERE status = ?"
    assert missing["fix"] == "CREATE INDEX CONCURRENTLY idx_users_status ON users (status);"
    assert missing["tests"] == [
        f"test_status[{s}]" for s in sorted(["active", "gone", "new", "old", "banned"])
    ]
    assert nplusone["statement"] == "SELECT email FROM users WHERE id = ?"
    assert nplusone["tests"] == [f"test_emails[{n}]" for n in range(4)]
    assert "queries.py" not in text  # no call site, no line number: moving code keeps it valid
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    result = suite.runpytest(f"--dbguard-baseline={BASELINE}")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            "Findings: 5 missing_index (accepted), 4 nplusone (accepted)",
            f"dbguard: baseline {BASELINE}: 9 findings accepted in 9 test(s)*",
        ]
    )
    result.stdout.no_fnmatch_line("*DBGuardWarning*")

    # Lines move (a comment and a helper above the queries): the baseline still holds.
    queries = suite.path / "queries.py"
    queries.write_text("# moved\n\n\ndef helper():\n    return 1\n\n" + queries.read_text())
    suite.runpytest(f"--dbguard-baseline={BASELINE}").assert_outcomes(passed=10)

    # A new finding fails, in a new module and in a known one alike.
    suite.makepyfile(test_new=NEW)
    known = suite.path / "test_known.py"
    known.write_text(known.read_text() + textwrap.dedent(NEW).replace("test_titles", "test_more"))
    result = suite.runpytest(f"--dbguard-baseline={BASELINE}")
    result.assert_outcomes(passed=10, failed=2)
    result.stdout.fnmatch_lines(
        ["FAILED test_known.py::test_more*", "FAILED test_new.py::test_titles*"]
    )
    result.stdout.fnmatch_lines(["*Missing index: no index serves items (title)*"])
    assert read(suite) == data  # without --dbguard-baseline-update the file is only read


def test_the_update_prunes_fixed_findings_and_keeps_tests_that_did_not_run(
    suite: pytest.Pytester,
) -> None:
    update(suite).assert_outcomes(passed=10)
    written = (suite.path / BASELINE).read_text()

    # A partial run keeps every entry: the other tests did not run.
    update(suite, "test_known.py::test_clean", "-k", "clean").assert_outcomes(passed=1)
    assert (suite.path / BASELINE).read_text() == written
    result = update(suite, "-k", "emails")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([f"dbguard: baseline {BASELINE} up to date: 2 findings accepted*"])
    assert (suite.path / BASELINE).read_text() == written

    # Fixed: the query reads an indexed column now. A run says so; the update prunes it.
    queries = suite.path / "queries.py"
    queries.write_text(queries.read_text().replace("WHERE status = :s", "WHERE email = :s"))
    result = suite.runpytest(f"--dbguard-baseline={BASELINE}")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            f"dbguard: baseline {BASELINE}: 1 finding no longer found (fixed?): "
            "--dbguard-baseline-update prunes them",
            "  missing_index in test_known.py: SELECT id FROM users WHERE status = ?",
        ]
    )
    result = update(suite)
    result.stdout.fnmatch_lines(
        [f"dbguard: baseline {BASELINE} written: 1 finding accepted (0 added, 1 pruned)"]
    )
    assert [entry["kind"] for entry in read(suite)["findings"]] == ["nplusone"]

    # A test that no longer exists takes its entries with it.
    known = suite.path / "test_known.py"
    known.write_text(known.read_text().replace("def test_emails", "def emails_unused"))
    update(suite).assert_outcomes(passed=6)
    assert read(suite)["findings"] == []


def test_a_failed_test_keeps_its_entries(suite: pytest.Pytester) -> None:
    update(suite).assert_outcomes(passed=10)
    written = (suite.path / BASELINE).read_text()
    known = suite.path / "test_known.py"
    known.write_text(
        known.read_text().replace(
            "        users_with_status(conn, status)",
            "        users_with_status(conn, status)\n    assert status == 'active'",
        )
    )
    update(suite).assert_outcomes(passed=6, failed=4)  # their own assertions: not judged
    assert (suite.path / BASELINE).read_text() == written


def test_the_baseline_under_xdist_is_the_serial_one(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBGUARD_SCHEMA_PER_WORKER", "1")
    update(suite, "-p", "no:xdist").assert_outcomes(passed=10)
    serial = (suite.path / BASELINE).read_text()
    (suite.path / BASELINE).unlink()
    update(suite, "-n", "2").assert_outcomes(passed=10)
    assert (suite.path / BASELINE).read_text() == serial
    suite.runpytest(f"--dbguard-baseline={BASELINE}", "-n", "2").assert_outcomes(passed=10)


def test_accepted_findings_are_reported_apart(suite: pytest.Pytester) -> None:
    update(suite).assert_outcomes(passed=10)
    suite.makepyfile(test_new=NEW)
    result = suite.runpytest(
        f"--dbguard-baseline={BASELINE}",
        "--dbguard-report=report.md",
        "--dbguard-json=report.json",
        "--dbguard-lints=warn",
        "--dbguard-nplusone=warn",
    )
    result.assert_outcomes(passed=10, failed=1)
    data = json.loads((suite.path / "report.json").read_text())
    jsonschema.validate(data, json.loads(REPORT_SCHEMA.read_text()))
    assert [finding["summary"] for finding in data["findings"]] == [
        "Missing index: no index serves items (title)"
    ]
    assert data["summary"]["failures"] == 1
    assert data["summary"]["warnings"] == 0
    markdown = (suite.path / "report.md").read_text()
    accepted = markdown.split("# Accepted in the baseline\n")[1]
    assert f"2 findings accepted in `{BASELINE}`" in accepted
    assert (
        "- Missing index: no index serves users (status) (5 test(s)): "
        "`CREATE INDEX CONCURRENTLY idx_users_status ON users (status);`"
    ) in accepted


def test_query_budgets_are_accepted_up_to_the_recorded_count(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeini("[pytest]\ndbguard_judge_test_queries = true\ndbguard_max_queries = 2\n")
    suite.makepyfile(
        test_budget="""
        import os
        from queries import emails

        def test_many(engine):
            with engine.connect() as conn:
                emails(conn, range(1, int(os.environ.get("LOOKUPS", "3")) + 1))
        """
    )
    update(suite, "test_budget.py", "--dbguard-nplusone=off").assert_outcomes(passed=1)
    (entry,) = read(suite)["findings"]
    assert entry["kind"] == "query_budget"
    assert entry["subject"] == "test_many: ini dbguard_max_queries"
    assert entry["queries"] == 3
    suite.runpytest(
        "test_budget.py", f"--dbguard-baseline={BASELINE}", "--dbguard-nplusone=off"
    ).assert_outcomes(passed=1)
    monkeypatch.setenv("LOOKUPS", "4")
    result = suite.runpytest(
        "test_budget.py", f"--dbguard-baseline={BASELINE}", "--dbguard-nplusone=off"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Expected at most 2 queries, 4 were run*"])


def test_the_ini_option_names_a_file_beside_the_ini_file(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeini(f"[pytest]\ndbguard_judge_test_queries = true\ndbguard_baseline = {BASELINE}\n")
    update(suite).assert_outcomes(passed=10)
    subdirectory = suite.mkdir("sub")
    monkeypatch.chdir(subdirectory)
    result = suite.runpytest(str(suite.path))
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines([f"dbguard: baseline {BASELINE}: 9 findings accepted*"])


def test_a_missing_baseline_accepts_nothing(suite: pytest.Pytester) -> None:
    result = suite.runpytest(f"--dbguard-baseline={BASELINE}")
    result.assert_outcomes(passed=1, failed=9)
    result.stdout.fnmatch_lines(
        [
            f"dbguard: baseline {BASELINE} does not exist: no finding is accepted "
            "(--dbguard-baseline-update writes it)"
        ]
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("<<<<<<< HEAD\n", "not JSON: *"),
        ('{"format": 7, "findings": []}', "not a pytest-dbguard baseline of format 1*"),
        (
            '{"format": 1, "findings": [{"kind": "plan_change", "module": "t.py"}]}',
            "finding 1: unknown kind 'plan_change'*",
        ),
        ('{"format": 1, "findings": [{"kind": "nplusone"}]}', "finding 1: no module*"),
    ],
)
def test_a_broken_baseline_is_a_usage_error(
    pytester: pytest.Pytester, content: str, problem: str
) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    (pytester.path / BASELINE).write_text(content)
    result = pytester.runpytest(f"--dbguard-baseline={BASELINE}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --dbguard-baseline / ini dbguard_baseline: {BASELINE}: {problem}"]
    )


def test_the_update_needs_a_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest("--dbguard-baseline-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --dbguard-baseline-update: name the baseline file with --dbguard-baseline=PATH*"]
    )


def test_a_baseline_that_cannot_be_written_is_an_error(suite: pytest.Pytester) -> None:
    (suite.path / "dangling").symlink_to(suite.path / "nowhere")
    result = suite.runpytest(
        "--dbguard-baseline=dangling/baseline.json", "--dbguard-baseline-update", "-k", "clean"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["dbguard: ERROR dangling/baseline.json: cannot write the baseline: File exists"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.usefixtures("pg_db")
def test_orm_findings_are_known_by_their_relationship(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_orm="""
        from sqlalchemy import select
        from models import User

        def test_digest(session):
            for user in session.scalars(select(User)):
                len(user.items)

        def test_lookup(session):
            session.scalars(select(User).where(User.email == "a@example.com")).all()
        """
    )
    app.runpytest().assert_outcomes(failed=2)
    update(app).assert_outcomes(passed=2)
    nplusone, missing = sorted(read(app)["findings"], key=lambda entry: entry["kind"], reverse=True)
    assert nplusone["subject"] == "User.items"
    assert nplusone["fix"] == "select(User).options(selectinload(User.items))"
    assert missing["fix"] == "CREATE INDEX CONCURRENTLY idx_users_email ON users (email);"
    app.runpytest(f"--dbguard-baseline={BASELINE}").assert_outcomes(passed=2)
