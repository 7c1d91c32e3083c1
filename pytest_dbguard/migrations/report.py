"""The "Migration safety" section of the Markdown report (and the step summary), from the plain
data of ``MigrationFinding.as_data``: no parameter values, no absolute paths, no URLs."""

from __future__ import annotations

from typing import Any


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
