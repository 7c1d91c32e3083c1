"""The short Markdown summary for a pull-request comment (--dbguard-pr-summary): counts, the new
findings one line each, the plan changes with their structured change."""

from __future__ import annotations

from typing import Any

import pytest
from _helpers import APP_QUERIES

from pytest_dbguard.reports.pr_summary import render_pr_summary

SUITE = """
import pytest
from queries import emails, titles_of, users_with_status


def test_status(engine):
    with engine.connect() as conn:
        users_with_status(conn, "secret-status")


def test_emails(engine):
    with engine.connect() as conn:
        emails(conn, [1, 2, 3, 4])


@pytest.mark.snapshot_plans
def test_titles(engine):
    with engine.connect() as conn:
        titles_of(conn, 1)
"""


def test_the_summary_of_a_pull_request(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_app.makepyfile(queries=APP_QUERIES, test_app=SUITE)
    plan_app.runpytest("--dbguard-update", "-k", "titles").assert_outcomes(passed=1)
    plan_app.runpytest(
        "--dbguard-baseline=baseline.json", "--dbguard-baseline-update", "-k", "emails"
    ).assert_outcomes(passed=1)
    monkeypatch.setenv("DBGUARD_DROP_INDEXES", "ix_items_user_id")
    result = plan_app.runpytest(
        "--dbguard-baseline=baseline.json",
        "--dbguard-pr-summary=out/pr.md",
        "--dbguard-report=out/report.md",
        "--dbguard-seqscan=warn",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["dbguard: report written to out/pr.md"])
    summary = (plan_app.path / "out/pr.md").read_text()
    assert "secret-status" not in summary
    assert str(plan_app.path) not in summary
    assert summary.splitlines() == [
        "### pytest-dbguard",
        "",
        "❌ **1 failing finding** in 3 tests.",
        "",
        "| failing | warnings | accepted in the baseline | plan changes | statements | counted |",
        "|---:|---:|---:|---:|---:|---:|",
        "| 1 | 2 | 1 | 1 | 12 | 6 |",
        "",
        "#### New findings (not in the baseline)",
        "",
        "| | finding | where | fix |",
        "|---|---|---|---|",
        "| ⚠️ | Missing index: no index serves items (user\\_id) | `queries.py:9 in titles_of` "
        "| `CREATE INDEX CONCURRENTLY idx_items_user_id ON items (user_id);` |",
        "| ⚠️ | Missing index: no index serves users (status) | `queries.py:5 in users_with_status` "
        "| `CREATE INDEX CONCURRENTLY idx_users_status ON users (status);` |",
        "",
        "#### Plan changes",
        "",
        "**Plans changed**: `test_app.py::test_titles` (`__dbguard__/test_app/test_titles.plan`)",
        "",
        "```text",
        "SELECT title FROM items WHERE user_id = ?: items: Index Scan using ix_items_user_id "
        "((items.user_id = ?)) -> Seq Scan",
        "```",
        "",
        "If a change is intended, retake the snapshots with "
        "`pytest --dbguard-plans --dbguard-update` and commit them.",
        "",
        "1 finding accepted in `baseline.json` (not listed).",
        "",
        "The evidence and the fixes in full: `out/report.md`.",
    ]


def test_a_clean_run_without_a_baseline(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_clean="def test_clean(engine):\n    pass\n")
    plan_app.runpytest("--dbguard-pr-summary=pr.md").assert_outcomes(passed=1)
    assert (plan_app.path / "pr.md").read_text().splitlines()[:7] == [
        "### pytest-dbguard",
        "",
        "✅ **No failing finding** in 1 test.",
        "",
        "| failing | warnings | accepted in the baseline | plan changes | statements | counted |",
        "|---:|---:|---:|---:|---:|---:|",
        "| 0 | 0 | no baseline | 0 | 0 | 0 |",
    ]


# In-process, on the report's data.


def data(*findings: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": {
            "tests": 40,
            "statements": 1234,
            "counted": 1000,
            "failures": sum(f["verdict"] == "fail" for f in findings),
            "warnings": sum(f["verdict"] == "warn" for f in findings),
        },
        "findings": list(findings),
    }


def finding(number: int, **details: Any) -> dict[str, Any]:
    return {
        "kind": "nplusone",
        "verdict": "fail",
        "summary": f"N+1 query {number}: a | b * __c__",
        "tests": ["tests/test_a.py::test_a", "tests/test_a.py::test_b"],
        "occurrences": [],
        "details": details,
    }


def test_cells_hold_any_text_and_long_lists_are_cut() -> None:
    findings = [finding(n, call_site=f"app/a.py:{n} in f", fix="x = `y` | z") for n in range(20)]
    text = render_pr_summary(data(*findings), accepted=3, baseline="b.json", stale=2, report=None)
    rows = [line for line in text.splitlines() if line.startswith("| ❌")]
    assert len(rows) == 15
    assert rows[0] == (
        "| ❌ | N+1 query 0: a \\| b \\* \\_\\_c\\_\\_ (2 tests) | `app/a.py:0 in f` "
        "| `` x = `y` \\| z `` |"
    )
    assert "| | … and 5 more | | |" in text
    assert (
        "3 findings accepted in `b.json` (not listed). 2 baseline entries no longer found: "
        "prune them with `pytest --dbguard-baseline-update`."
    ) in text


def test_the_summary_stays_under_githubs_comment_limit() -> None:
    changes = ["SELECT ... : " + "x" * 5000] * 12
    plans = [
        {
            "kind": "plan_change",
            "verdict": "fail",
            "summary": f"Plans changed against p{n}.plan:",
            "tests": [f"t.py::test_{n}"],
            "occurrences": [],
            "details": {"changes": changes, "snapshot": f"p{n}.plan"},
        }
        for n in range(10)
    ]
    text = render_pr_summary(data(*plans), accepted=0, baseline=None, stale=0, report=None)
    assert len(text) < 65_536
    assert text.endswith("*(cut: the full report has everything)*\n")
