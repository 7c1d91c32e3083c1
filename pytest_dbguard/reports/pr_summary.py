"""A short Markdown summary for a pull-request comment (``--dbguard-pr-summary``): the counts,
the findings that are new (not accepted in the baseline), one line each with where and the
fix, and the plan changes with their structured change. The long report (``--dbguard-report``,
the job summary) has the evidence; this is what a reviewer reads first."""

from __future__ import annotations

import re
from typing import Any

from ..findings import Kind
from .baseline import fix_text

_MAX_FINDINGS = 15
_MAX_PLANS = 10
_MAX_CHANGES = 12
_GITHUB_COMMENT_LIMIT = 60_000  # GitHub takes 65,536 characters in a comment
_PLAN_LABELS = {
    Kind.PLAN_CHANGE: "Plans changed",
    Kind.COST_REGRESSION: "Estimated cost grew",
    Kind.PLAN_MISSING: "No plan snapshot",
    Kind.PLAN_VERSION: "Snapshot of another PostgreSQL",
}
_PLAN_KINDS = tuple(_PLAN_LABELS)
_ICONS = {"fail": "❌", "warn": "⚠️"}


def render_pr_summary(
    data: dict[str, Any],
    accepted: int,
    baseline: str | None,
    stale: int,
    report: str | None,
) -> str:
    """``data`` is the report's data (``reports/data.py``: the findings not accepted);
    ``accepted`` counts the findings the baseline ``baseline`` accepted, ``stale`` its entries
    no test found; ``report`` names the long report's file, if one was written."""
    summary = data["summary"]
    plans = [f for f in data["findings"] if f["kind"] in _PLAN_KINDS]
    others = [f for f in data["findings"] if f["kind"] not in _PLAN_KINDS]
    verdict = (
        f"❌ **{_count(summary['failures'], 'failing finding')}**"
        if summary["failures"]
        else "✅ **No failing finding**"
    )
    lines = [
        "### pytest-dbguard",
        "",
        f"{verdict} in {_count(summary['tests'], 'test')}.",
        "",
        "| failing | warnings | accepted in the baseline | plan changes | statements | counted |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {summary['failures']} | {summary['warnings']} | "
        f"{accepted if baseline else 'no baseline'} | {len(plans)} | {summary['statements']:,} | "
        f"{summary['counted']:,} |",
        "",
    ]
    if others:
        title = "New findings (not in the baseline)" if baseline else "Findings"
        lines += [
            f"#### {title}",
            "",
            "| | finding | where | fix |",
            "|---|---|---|---|",
        ]
        lines += [_finding_row(finding) for finding in others[:_MAX_FINDINGS]]
        if len(others) > _MAX_FINDINGS:
            lines.append(f"| | … and {len(others) - _MAX_FINDINGS} more | | |")
        lines.append("")
    if plans:
        lines += ["#### Plan changes", ""]
        for finding in plans[:_MAX_PLANS]:
            lines += _plan_lines(finding)
        if len(plans) > _MAX_PLANS:
            lines += [f"… and {len(plans) - _MAX_PLANS} more.", ""]
        lines += [
            "If a change is intended, retake the snapshots with "
            "`pytest --dbguard-plans --dbguard-update` and commit them.",
            "",
        ]
    if baseline and (accepted or stale):
        note = f"{_count(accepted, 'finding')} accepted in `{baseline}` (not listed)."
        if stale:
            note += (
                f" {_count(stale, 'baseline entry', 'baseline entries')} no longer found: "
                "prune them with `pytest --dbguard-baseline-update`."
            )
        lines += [note, ""]
    if report:
        lines += [f"The evidence and the fixes in full: `{report}`.", ""]
    text = "\n".join(lines).rstrip() + "\n"
    if len(text) > _GITHUB_COMMENT_LIMIT:
        text = text[:_GITHUB_COMMENT_LIMIT] + "\n\n*(cut: the full report has everything)*\n"
    return text


def _count(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _finding_row(finding: dict[str, Any]) -> str:
    details = finding.get("details", {})
    where = details.get("call_site") or ""
    if not where:
        occurrences = finding.get("occurrences") or []
        where = next((o["call_site"] for o in occurrences if o.get("call_site")), "")
    if not where and finding["tests"]:
        where = finding["tests"][0]
    more_tests = len(finding["tests"]) - 1
    tests = f" ({_count(len(finding['tests']), 'test')})" if more_tests > 0 else ""
    fix = fix_text(details)
    cells = [
        _ICONS.get(finding["verdict"], ""),
        _cell(finding["summary"]) + tests,
        _code(where) if where else "",
        _code(fix) if fix else "",
    ]
    return "| " + " | ".join(cells) + " |"


def _plan_lines(finding: dict[str, Any]) -> list[str]:
    details = finding.get("details", {})
    tests = ", ".join(_code(test) for test in finding["tests"][:3])
    snapshot = f" ({_code(details['snapshot'])})" if details.get("snapshot") else ""
    lines = [f"**{_PLAN_LABELS[finding['kind']]}**: {tests}{snapshot}", ""]
    changes = list(details.get("changes") or [finding["summary"]])
    if len(changes) > _MAX_CHANGES:
        changes[_MAX_CHANGES:] = [f"... and {len(changes) - _MAX_CHANGES} more changes"]
    lines += ["```text", *changes, "```", ""]
    before, after = details.get("cost_before"), details.get("cost_after")
    if finding["kind"] == Kind.COST_REGRESSION and before and after is not None:
        change = (after - before) / before
        lines += [f"Estimated cost {before:,.2f} → {after:,.2f} ({change:+.0%})", ""]
    return lines


def _one_line(text: str) -> str:
    """One line, its pipes escaped (a table cell ends at a pipe, even in a code span)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _cell(text: str) -> str:
    """Plain text in Markdown: what would be markup is escaped."""
    escaped = re.sub(r"([\\`*_\[\]<>#~])", r"\\\1", " ".join(str(text).split()))
    return escaped.replace("|", "\\|")


def _code(text: str) -> str:
    """An inline code span that holds any text (a backtick inside takes a longer fence)."""
    text = _one_line(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"
