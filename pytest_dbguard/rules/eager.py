"""Unused eager loads: an eager loader option whose relationship the test never read.

A query that loaded no parent objects is not judged (nothing was loaded, so nothing could be
read): an empty list view says nothing about the option.
"""

from __future__ import annotations

from ..capture.eager import EagerLoad
from ..findings import Finding, Kind, Mode
from .text import sites_text

_COST = {
    "selectinload": "an extra SELECT (WHERE ... IN the parents' keys)",
    "subqueryload": "an extra SELECT that repeats the parent query as a subquery",
    "joinedload": "a JOIN that widens (and, for a collection, multiplies) the parent rows",
}
_OPTION_HINT = (
    "(this check: --dbguard-unused-eager-loads=fail|warn|off / ini dbguard_unused_eager_loads)"
)


def find_unused_eager_loads(entries: list[EagerLoad], mode: Mode) -> list[Finding]:
    return [_finding(entry, mode) for entry in entries if entry.loaded and not entry.read]


def _finding(entry: EagerLoad, mode: Mode) -> Finding:
    link = f"{entry.loader}({entry.relationship})"
    summary = f"Unused eager load: {entry.relationship} was loaded with {link} but never read"
    where = "that query" if entry.option == link else f"that query's {entry.option}"
    lines = [
        summary,
        f"  {sites_text([entry.site])}",
        f"  the option costs {_COST[entry.loader]} that nothing reads",
        f"Fix: remove {link} from {where},",
        f"  or read {entry.relationship} where the loaded objects are used {_OPTION_HINT}",
    ]
    return Finding.from_lines(
        Kind.UNUSED_EAGER_LOAD,
        mode,
        lines,
        {
            "relationship": entry.relationship,
            "loader": entry.loader,
            "option": entry.option,
            "call_site": str(entry.site) if entry.site else None,
            "fix": f"remove {link}",
        },
        site=entry.site,
    )
