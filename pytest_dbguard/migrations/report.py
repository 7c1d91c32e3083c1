"""The "Migration safety" section of the Markdown report (and the step summary), from the plain
data of ``MigrationFinding.as_data``: no parameter values, no absolute paths, no URLs."""

from __future__ import annotations

from typing import Any

import pytest

#: Each migration finding of the session, as plain data (on the pytest-xdist controller too).
COLLECTED = pytest.StashKey[dict[str, dict[str, Any]]]()
#: The attribute of a call report that carries its migration findings (pytest_dbguard.plugin
#: sends it from a pytest-xdist worker to the controller with the report).
PAYLOAD_ATTRIBUTE = "dbguard_migration_findings"


def markdown_section(data: list[dict[str, Any]]) -> str:
    """``## Migration safety``: a table of the findings, then one part per finding with the
    statement, the lock and its table, what was observed, and the safe pattern."""
    lines = ["## Migration safety", ""]
    if not data:
        lines += ["No finding: every checked revision is reversible and safe to run.", ""]
        return "\n".join(lines)
    lines += [
        "| verdict | revision | where | finding |",
        "|---|---|---|---|",
    ]
    for item in data:
        lines.append(
            f"| {item['verdict'].upper()} | {item['revision']} | `{_where(item)}` | "
            f"{_cell(item['diagnosis'])} |"
        )
    lines.append("")
    for item in data:
        lines += [f"### {item['revision']}: {item['diagnosis']}", ""]
        lines.append(f"- Where: `{_where(item)}` (rule `{item['rule']}`)")
        if item["statement"]:
            lines.append(f"- Statement: `{_code(item['statement'])}`")
        if item["lock"] and item["table"]:
            lines.append(f"- Lock: {item['lock']} on `{item['table']}`")
        lines += [f"- {_code(line)}" for line in item["evidence"]]
        if item["fix"]:
            lines += ["", "Safe pattern:", "", "```text", item["fix"], "```"]
        lines.append("")
    return "\n".join(lines)


def _where(item: dict[str, Any]) -> str:
    return f"{item['file']}:{item['line']}" if item["line"] else item["file"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'")


def migration_findings_as_data(config: pytest.Config) -> list[dict[str, Any]]:
    """Every migration finding of the session, once each, as plain JSON-able data (no
    parameter values, no absolute paths, no URLs): for report.md, the JSON report and the step
    summary (``report.markdown_section(data)`` renders them)."""
    collected = config.stash.get(COLLECTED, {})
    return sorted(
        collected.values(),
        key=lambda item: (item["file"], item["line"] or 0, item["rule"], item["table"] or ""),
    )
