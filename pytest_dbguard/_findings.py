"""Findings: what the analysis found in one test, with its verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._callsite import CallSite


class DBGuardWarning(UserWarning):
    """A finding whose mode is ``warn`` (shown in pytest's warnings summary)."""


@dataclass
class Finding:
    kind: str  # "query_budget", "nplusone", "duplicate_queries", ...
    verdict: str  # "fail" or "warn"
    summary: str  # one line: the diagnosis
    message: str  # diagnosis, evidence and fix, as shown to the user
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able, never parameter values
    site: CallSite | None = None  # where in the user's code, for warnings

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "verdict": self.verdict,
            "summary": self.summary,
            "message": self.message,
            "details": self.details,
        }
