"""Verdicts from EXPLAIN: unavoidable sequential scans, failed EXPLAINs, and plan snapshots."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ._capture import Record, Statement
from ._compare import compare
from ._findings import Finding
from ._fingerprint import fingerprint
from ._format import display_sql, sites_text
from ._plans import normalize
from ._seqscan import unavoidable_scans
from ._snapshot import (
    Snapshot,
    SnapshotError,
    StatementPlan,
    read_snapshot,
    render_snapshot,
    snapshot_dir,
    snapshot_name,
)


def explain_warnings(record: Record) -> list[Finding]:
    findings = []
    for statement in record.shapes():
        explained = statement.explained
        if explained is not None and explained.error:
            summary = f"EXPLAIN failed for {display_sql(statement.shape.fingerprint)}"
            findings.append(
                Finding(
                    kind="explain_error",
                    verdict="warn",
                    summary=summary,
                    message=f"{summary}: {explained.error}\n"
                    "  Its plan is not checked; the test's own statement ran as usual.",
                    details={"statement": statement.shape.fingerprint, "error": explained.error},
                    site=next(iter(statement.call_sites()), None),
                )
            )
    return findings


def seqscan_findings(record: Record, allowed: frozenset[str], mode: str) -> list[Finding]:
    findings = []
    for statement in record.shapes():
        explained = statement.explained
        if explained is None or explained.seqscan_off_plan is None:
            continue
        seen = set()
        for scan in unavoidable_scans(explained.seqscan_off_plan):
            condition = fingerprint(scan.condition)  # never a parameter value in a message
            if scan.table in allowed or (scan.table, condition) in seen:
                continue
            seen.add((scan.table, condition))
            findings.append(
                _seqscan_finding(
                    statement,
                    scan.table,
                    scan.scan,
                    scan.condition_kind,
                    condition,
                    scan.columns,
                    mode,
                )
            )
    return findings


def _seqscan_finding(
    statement: Statement,
    table: str,
    scan: str,
    condition_kind: str,
    condition: str,
    columns: tuple[str, ...],
    mode: str,
) -> Finding:
    column_text = ", ".join(columns) or "?"
    summary = f"Unavoidable sequential scan: no index serves {table} ({column_text})"
    site = next(iter(statement.call_sites()), None)
    lines = [
        summary,
        f"  {scan} on {table} for {condition_kind}: {condition}",
        "  Even with sequential scans disabled PostgreSQL reads every row of the table: "
        "fast on a test table, slow on a real one.",
        f"  {display_sql(statement.shape.fingerprint)}",
        f"  {sites_text([site])}",
        f"Fix: an index on {table} that leads with {column_text},",
        f'  or accept it: @pytest.mark.allow_seqscan("{table}")',
    ]
    return Finding(
        kind="seqscan",
        verdict=mode,
        summary=summary,
        message="\n".join(lines),
        details={
            "table": table,
            "scan": scan,
            "condition_kind": condition_kind,
            "condition": condition,
            "columns": list(columns),
            "statement": statement.shape.fingerprint,
            "call_site": str(site) if site else None,
        },
        site=site,
    )


def current_snapshot(record: Record, test: str) -> Snapshot:
    statements = sorted(
        (s for s in record.shapes() if s.explained is not None and s.explained.plan is not None),
        key=lambda statement: statement.first_seq,
    )
    major = next((s.explained.server_major for s in statements if s.explained), 0)
    return Snapshot(
        server_major=major,
        test=test,
        statements=[
            StatementPlan(s.shape.fingerprint, s.count, normalize(s.explained.plan))  # type: ignore[union-attr, arg-type]
            for s in statements
        ],
    )


@dataclass(frozen=True)
class SnapshotWrite:
    """A snapshot file to write (``text``) or remove (``None``), relative to the rootdir."""

    path: str
    text: str | None


def check_plans(
    record: Record,
    nodeid: str,
    module_path: Path,
    rootdir: Path,
    tolerance: float,
    update: bool,
) -> tuple[list[Finding], SnapshotWrite | None]:
    path = snapshot_dir(module_path) / snapshot_name(nodeid)
    display = os.path.relpath(path, rootdir).replace(os.sep, "/")
    current = current_snapshot(record, nodeid)
    try:
        stored = read_snapshot(path, display)
    except SnapshotError as error:
        if update:
            return [], _write(display, current)
        return [_plan_finding("plan_snapshot_error", "fail", str(error))], None
    verdict = compare(stored, current, tolerance, display)
    if update:
        return [], _write(display, current) if verdict.changed else None
    findings = [_plan_finding(kind, "fail", message) for kind, message in verdict.failures]
    findings += [_plan_finding("cost_improved", "warn", note) for note in verdict.notes]
    return findings, None


def _write(display: str, current: Snapshot) -> SnapshotWrite:
    return SnapshotWrite(display, render_snapshot(current) if current.statements else None)


def _plan_finding(kind: str, verdict: str, message: str) -> Finding:
    return Finding(kind=kind, verdict=verdict, summary=message.splitlines()[0], message=message)
