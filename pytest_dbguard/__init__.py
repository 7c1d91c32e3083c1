"""pytest-dbguard: database performance as a tested property of SQLAlchemy applications."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from .capture.callsites import CallSite
from .errors import DBGuardFailure, DBGuardWarning
from .fixtures import DBGuard, Query
from .rules.schema import SchemaFinding

#: The JSON Schema of the report that --dbguard-json writes.
REPORT_SCHEMA = Path(__file__).with_name("report.schema.json")

__all__ = [
    "REPORT_SCHEMA",
    "CallSite",
    "DBGuard",
    "DBGuardFailure",
    "DBGuardWarning",
    "Query",
    "SchemaFinding",
    "max_queries",
    "num_queries",
]


def max_queries(
    n: int, *, kinds: Iterable[str] | str | None = None, match: str | None = None
) -> pytest.MarkDecorator:
    """``@max_queries(3)``: fail if the test runs more than 3 counted statements."""
    return pytest.mark.max_queries(n, **_filters(kinds, match))


def num_queries(
    n: int, *, kinds: Iterable[str] | str | None = None, match: str | None = None
) -> pytest.MarkDecorator:
    """``@num_queries(3)``: fail unless the test runs exactly 3 counted statements."""
    return pytest.mark.num_queries(n, **_filters(kinds, match))


def _filters(kinds: Iterable[str] | str | None, match: str | None) -> dict[str, object]:
    filters: dict[str, object] = {}
    if kinds is not None:
        filters["kinds"] = kinds
    if match is not None:
        filters["match"] = match
    return filters
