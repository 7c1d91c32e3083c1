"""The findings as SARIF 2.1.0, for GitHub code scanning (``--dbguard-sarif``).

One result per finding and place: a statement's finding is placed at the application's line
that sent it (the call site), others (query budgets, plan snapshots) at the test's ``def`` line,
and a plan finding names its snapshot file as a related location. Paths are relative to the
rootdir (``%SRCROOT%``, the repository's checkout on GitHub); nothing absolute, no parameter
value. The same finding seen by several tests is one result that lists them.

Levels: ``error`` for a finding that fails the tests, ``warning`` for a warning, ``note`` for a
finding accepted in the baseline (with a suppression that says so, and ``baselineState``
``unchanged``; the others are ``new`` when a baseline is in use). The fix is in the message, and
in the result's ``properties.fix`` where it is one line (a ``CREATE INDEX``, an eager load):
SARIF's ``fixes`` are edits of the files, which an index's migration is not yet.

Every rule is declared, found or not, so that code scanning can close an alert whose finding is
gone. The file is deterministic: sorted results, no dates, no durations.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

from ..findings import Kind
from ..outcome.baseline import ACCEPTED
from .baseline import fix_text

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://github.com/pytest-dbguard/pytest-dbguard"
SOURCE_ROOT = "%SRCROOT%"
_SITE = re.compile(r"^(?P<path>.+):(?P<line>\d+) in (?P<function>.+)$")
_MAX_RELATED = 10

# Kind -> (rule name, short description, help).
RULES: dict[str, tuple[str, str, str]] = {
    Kind.QUERY_BUDGET: (
        "QueryBudget",
        "A test ran more queries than its budget allows",
        "Find the statements the test did not expect in the message (an N+1, a repeated "
        "lookup) and remove them, or raise the budget if the work is intended.",
    ),
    Kind.NPLUSONE: (
        "NPlusOneQuery",
        "N+1 query: one query per row of an earlier result",
        "Load the related rows with the parent query (selectinload / joinedload), or fetch "
        "all the rows in one query before the loop.",
    ),
    Kind.DUPLICATE_QUERIES: (
        "DuplicateQueries",
        "The same query with the same parameters ran several times",
        "Run the query once and reuse its result (or cache it for the request).",
    ),
    Kind.QUERY_SCALING: (
        "QueryCountGrowsWithData",
        "A scale-factor assertion failed: the number of queries grew with the data",
        "Load the related rows with the parent query (the loader the message names), so that "
        "the count stays the same whatever the number of rows.",
    ),
    Kind.UNUSED_EAGER_LOAD: (
        "UnusedEagerLoad",
        "A relationship was eager-loaded but never read",
        "Remove the loader option the message names from the query, or read the attribute.",
    ),
    Kind.MISSING_INDEX: (
        "MissingIndex",
        "No index serves a query: PostgreSQL reads the whole table",
        "Create the index the message names (CREATE INDEX CONCURRENTLY, verified on the test "
        "database), in a migration.",
    ),
    Kind.CORRELATED_SUBQUERY: (
        "CorrelatedSubquery",
        "A subquery runs once for each row of the outer query",
        "Rewrite the subquery as a JOIN with GROUP BY, or a LATERAL join.",
    ),
    Kind.CARTESIAN_JOIN: (
        "CartesianJoin",
        "A join without a join condition",
        "Add the missing join condition.",
    ),
    Kind.SORT_WITHOUT_INDEX: (
        "SortWithoutIndex",
        "ORDER BY ... LIMIT reads and sorts every row",
        "Create an index on the sort key: it returns the rows already in order.",
    ),
    Kind.PLAN_MISSING: (
        "PlanSnapshotMissing",
        "A test whose plans are checked has no golden plan snapshot",
        "Write it with pytest --dbguard-plans --dbguard-update and commit it.",
    ),
    Kind.PLAN_CHANGE: (
        "PlanChanged",
        "A query plan changed shape against its golden snapshot",
        "If the change is intended, accept it with pytest --dbguard-plans --dbguard-update; if "
        "not, find what changed the plan (a lost index, a rewritten query).",
    ),
    Kind.PLAN_VERSION: (
        "PlanSnapshotVersion",
        "The golden plan snapshot was taken on another PostgreSQL major version",
        "Check plans on the version the snapshots record (--dbguard-plans-postgresql), or "
        "retake them with --dbguard-update.",
    ),
    Kind.PLAN_SNAPSHOT_ERROR: (
        "PlanSnapshotError",
        "The golden plan snapshot cannot be read",
        "Repair or delete the file, then retake it with --dbguard-update.",
    ),
    Kind.COST_REGRESSION: (
        "CostRegression",
        "A plan's estimated cost grew past the tolerance",
        "Find what made the plan more expensive; if intended, accept it with --dbguard-update.",
    ),
    Kind.COST_IMPROVED: (
        "CostImproved",
        "A plan's estimated cost fell",
        "Retake the snapshot with --dbguard-update to keep the gain.",
    ),
}
_LEVELS = {"fail": "error", "warn": "warning", ACCEPTED: "note"}
_SEVERITY = {ACCEPTED: 0, "warn": 1, "fail": 2}


@dataclass
class _Result:
    kind: str
    verdict: str
    message: str
    uri: str
    line: int
    identity: str  # what the fingerprint hashes: no line number
    details: dict[str, Any]
    tests: list[str] = field(default_factory=list)
    related: list[tuple[str, int, str]] = field(default_factory=list)  # uri, line, text


def render_sarif(
    tests: dict[str, dict[str, Any]],
    locations: dict[str, tuple[str, int]],
    baseline: str | None,
) -> str:
    """The SARIF log of every finding of ``tests`` (the session's test entries, accepted
    findings included); ``locations`` has each test's file and ``def`` line; ``baseline`` is
    the baseline file's name when one is in use."""
    results: dict[tuple[str, str, int, str], _Result] = {}
    for nodeid, test in sorted(tests.items()):
        for finding in test["findings"]:
            result = _result(finding, nodeid, locations)
            if result is None:
                continue
            key = (result.kind, result.uri, result.line, result.identity)
            known = results.setdefault(key, result)
            if nodeid not in known.tests:
                known.tests.append(nodeid)
            if _SEVERITY[result.verdict] > _SEVERITY[known.verdict]:
                known.verdict = result.verdict
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": _driver()},
                "results": [
                    _sarif_result(result, baseline, locations)
                    for _, result in sorted(results.items())
                ],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _driver() -> dict[str, Any]:
    try:
        tool_version = version("pytest-dbguard")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        tool_version = "0"
    return {
        "name": "pytest-dbguard",
        "informationUri": INFORMATION_URI,
        "version": tool_version,
        "rules": [
            {
                "id": kind,
                "name": name,
                "shortDescription": {"text": short},
                "fullDescription": {"text": short},
                "help": {"text": text},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["performance", "database", "postgresql"]},
            }
            for kind, (name, short, text) in RULES.items()
        ],
    }


def parse_site(site: str | None) -> tuple[str, int, str] | None:
    """``path:line in function`` -> its parts, when the path is relative (inside the rootdir:
    an absolute path would tell code scanning nothing, and the reader where the CI ran)."""
    match = _SITE.match(site or "")
    if match is None or match["path"].startswith("/") or re.match(r"^[A-Za-z]:", match["path"]):
        return None
    return match["path"], int(match["line"]), match["function"]


def _result(
    finding: dict[str, Any], nodeid: str, locations: dict[str, tuple[str, int]]
) -> _Result | None:
    kind = finding["kind"]
    if kind not in RULES or finding["verdict"] not in _LEVELS:
        return None
    details = finding.get("details", {})
    site = parse_site(finding.get("site") or details.get("call_site"))
    statement = details.get("statement") or ""
    subject = details.get("relationship") or details.get("table") or ""
    if site is not None:
        uri, line, function = site
        identity = f"{function}\n{statement}\n{subject}"
    else:  # about the test itself: its budget, its plans
        uri, line = locations.get(nodeid, (nodeid.split("::", 1)[0], 1))
        identity = f"{nodeid}\n{statement}\n{subject}\n{finding['summary']}"
    result = _Result(
        kind=kind,
        verdict=finding["verdict"],
        message=_message(finding),
        uri=uri,
        line=max(line, 1),
        identity=identity,
        details=details,
    )
    if details.get("snapshot"):
        result.related.append((str(details["snapshot"]), 1, "the golden plan snapshot"))
    return result


def _message(finding: dict[str, Any]) -> str:
    """The finding's message; a query budget's is rebuilt from its statements' fingerprints
    (with --dbguard-show-params the message holds parameter values: they stay out of files)."""
    details = finding.get("details", {})
    if finding["kind"] != Kind.QUERY_BUDGET:
        return str(finding["message"])
    lines = [f"{finding['summary']} ({details.get('source', 'a budget')})"]
    lines += [
        f"  {number}. {statement}"
        for number, statement in enumerate(details.get("statements", []), start=1)
    ]
    return "\n".join(lines)


def _sarif_result(
    result: _Result, baseline: str | None, locations: dict[str, tuple[str, int]]
) -> dict[str, Any]:
    rule_ids = list(RULES)
    fingerprint = hashlib.sha256(
        f"{result.kind}\n{result.uri}\n{result.identity}".encode()
    ).hexdigest()
    properties: dict[str, Any] = {"tests": result.tests}
    fix = fix_text(result.details)
    if fix:
        properties["fix"] = fix
    sarif: dict[str, Any] = {
        "ruleId": result.kind,
        "ruleIndex": rule_ids.index(result.kind),
        "level": _LEVELS.get(result.verdict, "warning"),
        "message": {"text": result.message},
        "locations": [_location(result.uri, result.line)],
        "partialFingerprints": {"dbguardFinding/v1": fingerprint[:32]},
        "properties": properties,
    }
    related = list(result.related)
    for nodeid in result.tests:
        if nodeid in locations:
            uri, line = locations[nodeid]
            related.append((uri, line, f"found by the test {nodeid}"))
    if related:
        sarif["relatedLocations"] = [
            {**_location(uri, line), "id": number, "message": {"text": text}}
            for number, (uri, line, text) in enumerate(related[:_MAX_RELATED], start=1)
        ]
    if baseline is not None:
        accepted = result.verdict == ACCEPTED
        sarif["baselineState"] = "unchanged" if accepted else "new"
        if accepted:
            sarif["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"accepted in the pytest-dbguard baseline {baseline}",
                }
            ]
    return sarif


def _location(uri: str, line: int) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(uri), "uriBaseId": SOURCE_ROOT},
            "region": {"startLine": max(line, 1)},
        }
    }
