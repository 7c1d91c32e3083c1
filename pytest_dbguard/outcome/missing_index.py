"""The missing-index finding: a whole-table read that a trial index removed (the fix is proven
on the test's database), or could not be tried (and the message says why)."""

from __future__ import annotations

import re
from typing import Any

from ..capture.record import Statement
from ..findings import Finding, Kind, Mode
from ..rules.candidates import Candidate
from ..rules.plans import normalize_text
from ..rules.reads import WholeRead
from ..rules.text import display_sql, sites_text
from .examine import Examination, accepted
from .plan_views import analyze_summary, rendered, total_cost


def _table_name(read: WholeRead, exam: Examination) -> str:
    return read.table if read.schema in ("", exam.current_schema) else f"{read.schema}.{read.table}"


def _columns(candidate: Candidate) -> str:
    return f"{candidate.target} ({', '.join(candidate.columns)})"


def _read_line(read: WholeRead, exam: Examination) -> str:
    line = f"  PostgreSQL reads every row of {_table_name(read, exam)} ({read.why})"
    if read.filter:
        line += f" and keeps those where {normalize_text(read.filter)}"
    return line


def missing_index(
    statement: Statement, exam: Examination, allowed: frozenset[str], mode: Mode
) -> Finding | None:
    """A finding when trial indexes removed a whole-table read (the fix is proven), or when
    they could not be tried (and the message says why)."""
    if exam.fix is not None:
        reads, indexes = list(exam.fix.removed), list(exam.fix.indexes)
    elif exam.trial_error and exam.candidates:
        reads, indexes = list(exam.reads), list(exam.candidates)
    else:
        return None
    if all(accepted(read, allowed) for read in reads):
        return None
    plural = "es" if len(indexes) > 1 else ""
    served = ", ".join(_columns(candidate) for candidate in indexes)
    summary = f"Missing index{plural}: no index serves {served}"
    site = statement.first_call_site()
    lines = [
        summary,
        *(_read_line(read, exam) for read in reads),
        f"  {display_sql(statement.shape.fingerprint)}",
        f"  {sites_text([site])}",
    ]
    if exam.fix is not None:
        lines.append(
            "Fix, verified on this database (with it the plan reads "
            + ", ".join(_table_name(read, exam) for read in reads)
            + " through an index):"
        )
    else:
        lines.append(f"Fix, not verified: the index could not be tried here ({exam.trial_error}):")
    lines += [f"  {candidate.create_sql(concurrently=True)}" for candidate in indexes]
    tables = sorted({read.table for read in reads})
    accept = ", ".join(f'"{table}"' for table in tables)
    lines.append(f"  or accept it: @pytest.mark.allow_seqscan({accept})")
    before = exam.plan or {}
    after = exam.fix.plan_after if exam.fix is not None else None
    return Finding.from_lines(
        Kind.MISSING_INDEX,
        mode,
        lines,
        {
            "tables": tables,
            "statement": statement.shape.fingerprint,
            "call_site": str(site) if site else None,
            "reads": [
                {
                    "table": _table_name(read, exam),
                    "scan": read.scan,
                    "why": read.why,
                    "filter": normalize_text(read.filter) if read.filter else None,
                }
                for read in reads
            ],
            "indexes": [_index_details(candidate) for candidate in indexes],
            "verified": exam.fix is not None,
            "trial_error": exam.trial_error,
            "existing_indexes": sorted(
                definition for definitions in exam.indexes.values() for definition in definitions
            ),
            "plan_before": rendered(before, exam),
            "cost_before": total_cost(before),
            "plan_after": _with_suggested_names(rendered(after, exam), exam) if after else None,
            "cost_after": total_cost(after) if after else None,
            "analyze": analyze_summary(exam.analyzed_plan),
        },
        site=site,
    )


def _with_suggested_names(lines: list[str], exam: Examination) -> list[str]:
    """The plan with trial indexes, naming each by the name the fix gives it."""
    names = exam.fix.names if exam.fix is not None else {}
    pattern = re.compile(r"\bdbguard_trial_\d+\b")
    return [
        pattern.sub(lambda match: names.get(match.group(), match.group()), line) for line in lines
    ]


def _index_details(candidate: Candidate) -> dict[str, Any]:
    return {
        "name": candidate.name,
        "table": candidate.target,
        "columns": list(candidate.columns),
        "create_sql": candidate.create_sql(concurrently=True),
        "alembic": candidate.alembic(),
    }
