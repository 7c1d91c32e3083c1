"""Findings: what the analysis found in one test, with its verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from _pytest.outcomes import Failed

from ._callsite import CallSite


class DBGuardWarning(UserWarning):
    """A finding whose mode is ``warn`` (shown in pytest's warnings summary)."""


class DBGuardFailure(Failed):  # what pytest.fail() raises, as pytest.fail.Exception
    """A test failed a pytest-dbguard check: ``xfail(raises=DBGuardFailure)`` expects one."""

    __module__ = "builtins"  # reported as "DBGuardFailure: ...", as pytest does for Failed

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


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
