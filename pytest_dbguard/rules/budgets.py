"""Query budgets: ``max_queries`` / ``num_queries``, from markers, the ini default or a block."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..capture.record import Record, Statement
from ..findings import Finding, Kind, Mode
from .text import list_statements


@dataclass(frozen=True)
class Budget:
    limit: int
    exact: bool  # num_queries: exactly ``limit``; max_queries: at most
    kinds: frozenset[str]
    match: re.Pattern[str] | None
    source: str  # where the budget was set, for the message

    def counts(self, statement: Statement) -> bool:
        return statement.shape.kind in self.kinds and (
            self.match is None or self.match.search(statement.text) is not None
        )

    def violated_by(self, count: int) -> bool:
        return count != self.limit if self.exact else count > self.limit

    def diagnosis(self, count: int) -> str:
        noun = "query" if self.limit == 1 else "queries"
        verb = "was" if count == 1 else "were"
        expected = "exactly" if self.exact else "at most"
        scope = (
            ""
            if self.kinds >= {"select", "insert", "update", "delete"}
            else (f" ({', '.join(sorted(self.kinds))})")
        )
        matching = f" matching /{self.match.pattern}/" if self.match else ""
        return f"Expected {expected} {self.limit} {noun}{scope}{matching}, {count} {verb} run"


def check_budget(
    budget: Budget,
    record: Record,
    count: int,
    runs: tuple[int, int | None],
    show_params: bool,
) -> Finding | None:
    """A failing finding when ``count`` breaks ``budget``; ``runs`` is the range of recorded
    runs to list (read only on failure: a passing test builds no list)."""
    if not budget.violated_by(count):
        return None
    counted = [entry for entry in record.entries(*runs) if budget.counts(entry.statement)]
    lines = [f"{budget.diagnosis(count)} ({budget.source})", ""]
    lines += list_statements(counted, show_params)
    if len(counted) < count:
        lines.append(f"  (only the first {len(counted)} statements were recorded)")
    if not show_params:
        lines += ["", "Parameters are hidden; --dbguard-show-params shows them."]
    return Finding(
        kind=Kind.QUERY_BUDGET,
        verdict=Mode.FAIL,
        summary=budget.diagnosis(count),
        message="\n".join(lines),
        details={
            "limit": budget.limit,
            "exact": budget.exact,
            "count": count,
            "source": budget.source,
            "statements": [entry.statement.shape.fingerprint for entry in counted[:50]],
        },
    )


def count_whole_test(budget: Budget, record: Record) -> int:
    return sum(statement.count for statement in record.shapes() if budget.counts(statement))
