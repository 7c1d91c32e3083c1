"""Findings: what the checks found in one test, with their verdicts. Plain data, so that a
pytest-xdist worker can send them to the controller and reports can read them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .capture.callsites import CallSite


class Mode(enum.StrEnum):
    """What a check does with a finding (the value of its option)."""

    FAIL = "fail"
    WARN = "warn"
    OFF = "off"


class Kind(enum.StrEnum):
    QUERY_BUDGET = "query_budget"
    NPLUSONE = "nplusone"
    DUPLICATE_QUERIES = "duplicate_queries"
    QUERY_SCALING = "query_scaling"  # a scale-factor assertion: the count grew with the data
    UNUSED_EAGER_LOAD = "unused_eager_load"
    MISSING_INDEX = "missing_index"
    CORRELATED_SUBQUERY = "correlated_subquery"
    CARTESIAN_JOIN = "cartesian_join"
    SORT_WITHOUT_INDEX = "sort_without_index"
    PLAN_MISSING = "plan_missing"
    PLAN_CHANGE = "plan_change"
    PLAN_VERSION = "plan_version"
    PLAN_SNAPSHOT_ERROR = "plan_snapshot_error"
    COST_REGRESSION = "cost_regression"
    COST_IMPROVED = "cost_improved"


@dataclass
class Finding:
    kind: Kind
    verdict: Mode  # FAIL or WARN
    summary: str  # one line: the diagnosis
    message: str  # diagnosis, evidence and fix, as shown to the user
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able, never parameter values
    site: CallSite | None = None  # where in the user's code, for warnings

    @classmethod
    def from_lines(
        cls,
        kind: Kind,
        verdict: Mode,
        lines: list[str],
        details: dict[str, Any],
        site: CallSite | None = None,
    ) -> Finding:
        """A finding whose message is ``lines``, the first of them its summary (the shape of
        every message: the diagnosis, then the evidence and the fix)."""
        return cls(kind, verdict, lines[0], "\n".join(lines), details, site)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "verdict": str(self.verdict),
            "summary": self.summary,
            "message": self.message,
            "details": self.details,
            "site": None if self.site is None else str(self.site),
        }
