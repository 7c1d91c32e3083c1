"""What the summary and the reports need of a test: plain data, so that pytest-xdist can send
it from a worker to the controller with the test's report."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from ..capture.record import Record
from ..rules.schema import SchemaFinding
from .judge import TestOutcome

#: The attribute of a call report that carries its test's payload (not a user property: JUnit
#: XML would print those).
PAYLOAD_ATTRIBUTE = "dbguard_payload"


class Payload(TypedDict):
    total: int
    counted: int
    findings: list[dict[str, Any]]
    notes: list[str]
    plans_skipped_on: int | None
    examined: int
    reused: int
    snapshot: dict[str, str] | None
    schema: list[dict[str, Any]]


def payload(
    record: Record,
    outcome: TestOutcome,
    counted_kinds: frozenset[str],
    schema: list[SchemaFinding],
) -> Payload:
    snapshot = None
    if outcome.snapshot is not None:
        snapshot = {"path": outcome.snapshot[0], "text": outcome.snapshot[1]}
    return {
        "total": record.total,
        "counted": sum(
            statement.count
            for statement in record.shapes()
            if statement.shape.kind in counted_kinds
        ),
        "findings": [finding.as_dict() for finding in outcome.findings],
        "notes": outcome.notes,
        "plans_skipped_on": outcome.plans_skipped_on,
        "examined": outcome.examined,
        "reused": outcome.reused,
        "snapshot": snapshot,
        "schema": [finding.as_dict() for finding in schema],
    }


def take_payload(report: pytest.TestReport) -> Payload | None:
    """The payload a call report carries, taken off it (pytest keeps every report until the
    end of the session: keep them small)."""
    data: Payload | None = getattr(report, PAYLOAD_ATTRIBUTE, None)
    if data is not None:
        delattr(report, PAYLOAD_ATTRIBUTE)
    return data
