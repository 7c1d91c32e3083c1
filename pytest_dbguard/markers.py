"""Markers: registered, read and validated at collection time.

A marker with bad arguments is a usage error naming the test and the marker, raised before
any test runs, rather than an error from inside the plugin halfway through the suite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from .options import Settings, parse_kinds, parse_lints
from .rules.budgets import Budget

MARKERS = {
    "max_queries": "max_queries(n, *, kinds=None, match=None): fail if the test runs more than "
    "n counted SQL statements (pytest-dbguard)",
    "num_queries": "num_queries(n, *, kinds=None, match=None): fail unless the test runs "
    "exactly n counted SQL statements (pytest-dbguard)",
    "allow_nplusone": "allow_nplusone: this test may contain N+1 query patterns (pytest-dbguard)",
    "allow_seqscan": "allow_seqscan(*tables): whole-table reads of these tables (missing "
    "indexes) are accepted in this test (pytest-dbguard)",
    "allow_lint": "allow_lint(*names): these plan lints (correlated_subquery, cartesian_join, "
    "sort_without_index) are accepted in this test (pytest-dbguard)",
    "snapshot_plans": "snapshot_plans: check this test's EXPLAIN plans against its golden "
    "snapshot, as --dbguard-plans does for every test (pytest-dbguard)",
}


@dataclass(frozen=True)
class TestSpec:
    """What a test's markers ask for, parsed once at collection."""

    budgets: tuple[Budget, ...]
    allow_nplusone: bool
    allow_seqscan: frozenset[str]
    snapshot_plans: bool
    allow_lints: frozenset[str] = frozenset()


def _describe(mark: pytest.Mark) -> str:
    args = [repr(arg) for arg in mark.args] + [
        f"{key}={value!r}" for key, value in mark.kwargs.items()
    ]
    return f"@pytest.mark.{mark.name}({', '.join(args)})"


def _error(item: pytest.Item, mark: pytest.Mark, problem: str) -> pytest.UsageError:
    return pytest.UsageError(f"{item.nodeid}: {_describe(mark)}: {problem}")


def budget_from_arguments(
    name: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    settings: Settings,
    source: str,
) -> Budget:
    """Validate ``max_queries`` / ``num_queries`` arguments; raises ``ValueError`` with the
    problem, which callers turn into a usage error or a failure at the right place."""
    unknown = sorted(set(kwargs) - {"kinds", "match"})
    if unknown:
        raise ValueError(f"unknown keyword argument {', '.join(unknown)} (known: kinds, match)")
    if len(args) != 1:
        raise ValueError(f"expects one query budget, got {len(args)} positional arguments")
    limit = args[0]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"the query budget must be a whole number of at least 0, not {limit!r}")
    kinds = settings.count_kinds
    if kwargs.get("kinds") is not None:
        try:
            kinds = parse_kinds("kinds", kwargs["kinds"])
        except pytest.UsageError as error:
            raise ValueError(str(error).removeprefix("kinds: ")) from None
    match = kwargs.get("match")
    pattern = None
    if match is not None:
        if not isinstance(match, str):
            raise ValueError(f"match must be a regular expression string, not {match!r}")
        try:
            pattern = re.compile(match)
        except re.error as error:
            raise ValueError(f"match is not a valid regular expression: {error}") from None
    return Budget(limit, name == "num_queries", kinds, pattern, source)


def read_spec(item: pytest.Item, settings: Settings) -> TestSpec:
    """The test's markers, validated; ``pytest.UsageError`` names the test and the marker."""
    budgets = []
    for name in ("max_queries", "num_queries"):
        mark = item.get_closest_marker(name)
        if mark is None:
            continue
        own = [m for m in getattr(item, "own_markers", []) if m.name == name]
        if len(own) > 1 and any(m.args != own[0].args or m.kwargs != own[0].kwargs for m in own):
            stacked = " and ".join(_describe(m) for m in own)
            raise pytest.UsageError(
                f"{item.nodeid}: {stacked} on one test: keep one (a marker on the class or "
                "module is overridden by the test's own)"
            )
        try:
            budgets.append(
                budget_from_arguments(name, mark.args, mark.kwargs, settings, _describe(mark))
            )
        except ValueError as problem:
            raise _error(item, mark, str(problem)) from None
    if not budgets and settings.max_queries is not None:
        budgets.append(
            Budget(
                settings.max_queries, False, settings.count_kinds, None, "ini dbguard_max_queries"
            )
        )
    allow = item.get_closest_marker("allow_nplusone")
    snapshot = item.get_closest_marker("snapshot_plans")
    for mark in (allow, snapshot):
        if mark is not None and (mark.args or set(mark.kwargs) - {"reason"}):
            raise _error(item, mark, "takes no arguments but an optional reason=")
    tables = set(settings.allow_seqscan)
    for mark in item.iter_markers("allow_seqscan"):
        if not mark.args or not all(isinstance(table, str) and table for table in mark.args):
            raise _error(item, mark, "expects one or more table names")
        if set(mark.kwargs) - {"reason"}:
            raise _error(item, mark, "takes table names and an optional reason=")
        tables.update(mark.args)
    lints: set[str] = set()
    for mark in item.iter_markers("allow_lint"):
        if not mark.args or set(mark.kwargs) - {"reason"}:
            raise _error(item, mark, "expects one or more plan lint names")
        try:
            lints.update(parse_lints("allow_lint", mark.args))
        except pytest.UsageError as error:
            raise _error(item, mark, str(error).removeprefix("allow_lint: ")) from None
    return TestSpec(
        tuple(budgets),
        allow is not None,
        frozenset(tables),
        snapshot is not None,
        frozenset(lints),
    )
