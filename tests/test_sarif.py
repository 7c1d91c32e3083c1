"""SARIF 2.1.0 (--dbguard-sarif) for GitHub code scanning: valid against the official schema
(tests/data), each finding at the application's line with its rule, level, message and fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _helpers import APP_QUERIES

from pytest_dbguard.reports.sarif import RULES, render_sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


SUITE = """
import pytest
from queries import emails, titles_of, users_with_status


def test_status(engine):
    with engine.connect() as conn:
        users_with_status(conn, "secret-status")


def test_emails(engine):
    with engine.connect() as conn:
        emails(conn, [1, 2, 3, 4])


@pytest.mark.max_queries(1)
def test_budget(engine):
    with engine.connect() as conn:
        titles_of(conn, 1)
        titles_of(conn, 2)


@pytest.mark.snapshot_plans
def test_titles(engine):
    with engine.connect() as conn:
        titles_of(conn, 1)
"""


def validate(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def line_of(path: Path, text: str) -> int:
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return number


def location(result: dict[str, Any]) -> tuple[str, int]:
    physical = result["locations"][0]["physicalLocation"]
    return physical["artifactLocation"]["uri"], physical["region"]["startLine"]


def test_findings_to_code_scanning(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_app.makepyfile(queries=APP_QUERIES, test_app=SUITE)
    plan_app.runpytest("--dbguard-update")  # the plan snapshot of test_titles
    plan_app.runpytest(
        "--dbguard-baseline=baseline.json", "--dbguard-baseline-update", "-k", "emails"
    ).assert_outcomes(passed=1)
    monkeypatch.setenv("DBGUARD_DROP_INDEXES", "ix_items_user_id")
    result = plan_app.runpytest(
        "--dbguard-baseline=baseline.json", "--dbguard-sarif=out/dbguard.sarif"
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["dbguard: report written to out/dbguard.sarif"])
    text = (plan_app.path / "out/dbguard.sarif").read_text()
    log = json.loads(text)
    validate(log)
    assert "secret-status" not in text
    assert str(plan_app.path) not in text

    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pytest-dbguard"
    assert [rule["id"] for rule in driver["rules"]] == list(RULES)  # every rule, found or not
    results = run["results"]
    for result_ in results:
        assert driver["rules"][result_["ruleIndex"]]["id"] == result_["ruleId"]
        assert result_["partialFingerprints"]["dbguardFinding/v1"]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for result_ in results:
        by_rule.setdefault(result_["ruleId"], []).append(result_)
    assert sorted(by_rule) == ["missing_index", "nplusone", "plan_change", "query_budget"]

    queries = plan_app.path / "queries.py"
    titles, status = sorted(by_rule["missing_index"], key=lambda r: r["properties"]["fix"])
    assert location(status) == ("queries.py", line_of(queries, "WHERE status"))
    assert status["level"] == "error"
    assert status["baselineState"] == "new"
    assert status["properties"] == {
        "tests": ["test_app.py::test_status"],
        "fix": "CREATE INDEX CONCURRENTLY idx_users_status ON users (status);",
    }
    assert status["message"]["text"].startswith("Missing index: no index serves users (status)")
    assert (
        "CREATE INDEX CONCURRENTLY idx_users_status ON users (status);" in status["message"]["text"]
    )
    assert location(titles) == ("queries.py", line_of(queries, "WHERE user_id"))
    assert titles["properties"]["tests"] == ["test_app.py::test_budget", "test_app.py::test_titles"]

    (nplusone,) = by_rule["nplusone"]
    assert location(nplusone) == ("queries.py", line_of(queries, "WHERE id = :u"))
    assert nplusone["level"] == "note"
    assert nplusone["baselineState"] == "unchanged"
    assert nplusone["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "accepted in the pytest-dbguard baseline baseline.json",
        }
    ]

    tests = plan_app.path / "test_app.py"
    (budget,) = by_rule["query_budget"]
    uri, line = location(budget)
    assert uri == "test_app.py"
    assert line in (line_of(tests, "max_queries(1)"), line_of(tests, "def test_budget"))
    assert budget["message"]["text"].splitlines() == [
        "Expected at most 1 query, 2 were run (@pytest.mark.max_queries(1))",
        "  1. SELECT title FROM items WHERE user_id = ?",
        "  2. SELECT title FROM items WHERE user_id = ?",
    ]

    (plan,) = by_rule["plan_change"]
    uri, line = location(plan)
    assert uri == "test_app.py"
    assert line in (line_of(tests, "snapshot_plans"), line_of(tests, "def test_titles"))
    related = [r["physicalLocation"]["artifactLocation"]["uri"] for r in plan["relatedLocations"]]
    assert related == ["__dbguard__/test_app/test_titles.plan", "test_app.py"]
    assert "Index Scan using ix_items_user_id" in plan["message"]["text"]


def test_no_findings_is_a_valid_empty_run(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_clean="def test_clean(engine):\n    pass\n")
    plan_app.runpytest("--dbguard-sarif=clean.sarif").assert_outcomes(passed=1)
    log = json.loads((plan_app.path / "clean.sarif").read_text())
    validate(log)
    assert log["runs"][0]["results"] == []
    assert "baselineState" not in json.dumps(log)


def test_a_sarif_file_that_cannot_be_written_is_an_error(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_clean="def test_clean(engine):\n    pass\n")
    (plan_app.path / "taken").write_text("a file, not a directory")
    result = plan_app.runpytest("--dbguard-sarif=taken/dbguard.sarif")
    result.stdout.fnmatch_lines(
        ["dbguard: ERROR taken/dbguard.sarif: cannot write the SARIF file: *"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


# In-process, on recorded test entries: what each finding becomes.


def finding(kind: str, verdict: str, **details: Any) -> dict[str, Any]:
    site = details.pop("site", None)
    return {
        "kind": kind,
        "verdict": verdict,
        "summary": f"{kind} summary",
        "message": f"{kind} message\nFix: something",
        "details": details,
        "site": site,
    }


def entries(**tests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"tests/test_app.py::{name}": {"findings": found} for name, found in tests.items()}


LOCATIONS = {
    "tests/test_app.py::test_one": ("tests/test_app.py", 10),
    "tests/test_app.py::test_two": ("tests/test_app.py", 20),
}


def test_one_finding_from_two_tests_is_one_result_at_its_call_site() -> None:
    site = "app/views.py:42 in listing"
    tests = entries(
        test_one=[finding("nplusone", "warn", statement="SELECT 1", relationship="A.b", site=site)],
        test_two=[finding("nplusone", "fail", statement="SELECT 1", relationship="A.b", site=site)],
    )
    log = json.loads(render_sarif(tests, LOCATIONS, None))
    validate(log)
    (result,) = log["runs"][0]["results"]
    assert location(result) == ("app/views.py", 42)
    assert result["level"] == "error"  # the worst verdict of the tests
    assert result["properties"]["tests"] == [
        "tests/test_app.py::test_one",
        "tests/test_app.py::test_two",
    ]
    assert [r["message"]["text"] for r in result["relatedLocations"]] == [
        "found by the test tests/test_app.py::test_one",
        "found by the test tests/test_app.py::test_two",
    ]


def test_a_call_site_outside_the_rootdir_places_the_finding_at_the_test() -> None:
    site = "/usr/lib/python3/site-packages/app/views.py:42 in listing"
    tests = entries(
        test_one=[finding("duplicate_queries", "warn", statement="SELECT 1", site=site)]
    )
    text = render_sarif(tests, LOCATIONS, None)
    validate(json.loads(text))
    (result,) = json.loads(text)["runs"][0]["results"]
    assert location(result) == ("tests/test_app.py", 10)
    assert result["level"] == "warning"
    assert "/usr/lib" not in text


def test_moving_a_line_keeps_the_fingerprint_and_paths_are_uris() -> None:
    def fingerprint(line: int) -> str:
        site = f"app/my views.py:{line} in listing"
        tests = entries(
            test_one=[finding("missing_index", "fail", statement="SELECT 1", site=site)]
        )
        (result,) = json.loads(render_sarif(tests, LOCATIONS, None))["runs"][0]["results"]
        assert location(result) == ("app/my%20views.py", line)
        return str(result["partialFingerprints"]["dbguardFinding/v1"])

    assert fingerprint(10) == fingerprint(12)
