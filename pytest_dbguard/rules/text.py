"""Text shared by failure messages: statements listed, numbered and grouped by shape."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..capture.callsites import CallSite
from ..capture.record import LogEntry, Statement

_SELECT_LIST = re.compile(r"^(SELECT(?: DISTINCT)?) ([^()]*?) (FROM )", re.IGNORECASE)
_MAX_SQL = 300
_MAX_GROUPS = 25
_MAX_SITES = 3


def display_sql(shape: str) -> str:
    """A fingerprint made short enough to read: a plain list of columns becomes ``...``."""
    match = _SELECT_LIST.match(shape)
    if match and "," in match.group(2):
        shape = f"{match.group(1)} ... {match.group(3)}{shape[match.end() :]}"
    return shape if len(shape) <= _MAX_SQL else shape[: _MAX_SQL - 3] + "..."


def _ordinals(numbers: Sequence[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``2-4, 7`` (at most five parts)."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ", ".join(parts[:5]) + (", ..." if len(parts) > 5 else "")


def sites_text(sites: Sequence[CallSite | None]) -> str:
    known = list(dict.fromkeys(site for site in sites if site is not None))
    if not known:
        return "at (no call site in the user's code)"
    text = ", ".join(str(site) for site in known[:_MAX_SITES])
    return (
        "at " + text + (f" and {len(known) - _MAX_SITES} more" if len(known) > _MAX_SITES else "")
    )


def list_statements(entries: Sequence[LogEntry], show_params: bool) -> list[str]:
    """Number each statement, grouping the repeats of one shape under its first number."""
    groups: dict[int, tuple[Statement, list[int], list[LogEntry]]] = {}
    for number, entry in enumerate(entries, start=1):
        key = id(entry.statement)
        if key not in groups:
            groups[key] = (entry.statement, [], [])
        groups[key][1].append(number)
        groups[key][2].append(entry)
    lines: list[str] = []
    for statement, numbers, runs in list(groups.values())[:_MAX_GROUPS]:
        label = f"{_ordinals(numbers)}."
        repeat = f"{len(numbers)}x " if len(numbers) > 1 else ""
        sites = [run.site for run in runs] or statement.call_sites()
        if all(site is None for site in sites):
            sites = statement.call_sites()
        lines.append(f"  {label:<6} {repeat}{display_sql(statement.shape.fingerprint)}")
        lines.append(f"  {'':<6} {sites_text(sites)}")
        if show_params:
            lines.append(f"  {'':<6} parameters: {runs[0].parameters!r}")
    if len(groups) > _MAX_GROUPS:
        lines.append(f"  ... and {len(groups) - _MAX_GROUPS} more statement shapes")
    return lines
