"""N+1 detection: one statement shape per row of an earlier result.

Two sources, never both for the same statement: ORM lazy loads seen by ``do_orm_execute``
(named after their relationship, with the eager load that fixes them), and Core or text
SELECTs run ``threshold`` times from one call site with different parameters. Identical
repeats are duplicates, reported on their own.
"""

from __future__ import annotations

from collections import defaultdict

from ..capture.callsites import SiteKey
from ..capture.record import LazyLoads, Record, Sample, Statement
from ..findings import Finding, Kind, Mode
from .text import display_sql, sites_text

_ALLOW_HINT = (
    "or, if it is intended: @pytest.mark.allow_nplusone, or `with dbguard.allow_nplusone():`"
)


def find_nplusone(record: Record, threshold: int, mode: Mode) -> list[Finding]:
    findings = [_lazy_load_finding(record, loads, mode) for loads in _worst_unit_per_site(record)]
    for statement in record.shapes():
        if statement.shape.kind == "select" and not statement.shape.internal:
            findings += _repeated_select_findings(record, statement, threshold, mode)
    return [finding for finding in findings if finding is not None]


def _worst_unit_per_site(record: Record) -> list[LazyLoads]:
    """One finding per relationship and call site: the unit of work (Session) that loaded it
    for the most parents; the same view hit by two requests is one N+1, not two."""
    worst: dict[tuple[str, SiteKey | None], LazyLoads] = {}
    for (relationship, site_key, _unit), loads in record.lazy_loads.items():
        kept = worst.get((relationship, site_key))
        if kept is None or len(loads.parents) > len(kept.parents):
            worst[(relationship, site_key)] = loads
    return list(worst.values())


def _lazy_load_finding(record: Record, loads: LazyLoads, mode: Mode) -> Finding | None:
    runs = sum(1 for seq in loads.seqs if not record.is_nplusone_allowed(seq))
    parents = len(loads.parents) if runs == len(loads.seqs) else runs
    if parents < 2 or runs < 2:
        return None
    loader = "selectinload" if loads.collection else "joinedload"
    cls, attribute = loads.parent_class, f"{loads.parent_class}.{loads.attribute}"
    fix = f"select({cls}).options({loader}({attribute}))"
    sql = _lazy_sql(record, loads)
    site = record.site(loads.site_key)
    summary = (
        f"N+1 query: {loads.relationship} was lazy-loaded for {parents} {cls} objects, "
        "one query each"
    )
    lines = [summary, f"  {sites_text([site])}"]
    if sql:
        lines.append(f"  {loads.count}x {display_sql(sql)}")
    lines += [
        f"Fix: load {loads.relationship} with the query that loads the {cls} objects:",
        f"  {fix}",
        f"  ({loader} from sqlalchemy.orm; {_ALLOW_HINT})",
    ]
    return Finding(
        kind=Kind.NPLUSONE,
        verdict=mode,
        summary=summary,
        message="\n".join(lines),
        details={
            "source": "orm_lazy_load",
            "relationship": loads.relationship,
            "parents": parents,
            "queries": loads.count,
            "call_site": str(site) if site else None,
            "statement": sql,
            "fix": fix,
        },
        site=site,
    )


def _lazy_sql(record: Record, loads: LazyLoads) -> str | None:
    """The statement a lazy load sent: the first lazy-load run at or after the load began."""
    best: tuple[int, str] | None = None
    for statement in record.shapes():
        for sample in statement.samples:
            if (
                sample.orm_load == "lazy"
                and sample.seq >= loads.first_seq
                and (best is None or sample.seq < best[0])
            ):
                best = (sample.seq, statement.shape.fingerprint)
    return best[1] if best else None


def _repeated_select_findings(
    record: Record, statement: Statement, threshold: int, mode: Mode
) -> list[Finding]:
    if len(statement.samples) < threshold:
        return []  # most statements: too few runs to be a pattern
    by_site: dict[SiteKey, list[Sample]] = defaultdict(list)  # named only for a finding
    for sample in statement.samples:
        if (
            sample.site_key is not None
            and sample.params_key is not None
            and sample.orm_load is None
            and not record.is_nplusone_allowed(sample.seq)
        ):
            by_site[sample.site_key].append(sample)
    findings = []
    for key, samples in by_site.items():
        if len(samples) < threshold or len({sample.params_key for sample in samples}) < 2:
            continue
        site = record.finder.name(key)
        runs = statement.count if len(statement.sites) == 1 else len(samples)
        at_least = "" if len(statement.sites) == 1 else "at least "
        sql = display_sql(statement.shape.fingerprint)
        summary = (
            f"N+1 query: the same SELECT ran {at_least}{runs} times from one call site "
            "with different parameters"
        )
        lines = [
            summary,
            f"  {sites_text([site])}",
            f"  {sql}",
            "Fix: fetch all the rows in one query before the loop (WHERE ... IN (...) over the "
            "keys, or a JOIN),",
            f"  {_ALLOW_HINT}",
        ]
        findings.append(
            Finding(
                kind=Kind.NPLUSONE,
                verdict=mode,
                summary=summary,
                message="\n".join(lines),
                details={
                    "source": "repeated_statement",
                    "queries": runs,
                    "call_site": str(site),
                    "statement": statement.shape.fingerprint,
                },
                site=site,
            )
        )
    return findings


def find_duplicates(record: Record, threshold: int, mode: Mode) -> list[Finding]:
    """Identical statement and parameters run ``threshold`` times or more."""
    findings = []
    for statement in record.shapes():
        if (
            len(statement.samples) < threshold
            or statement.shape.kind == "transaction"
            or statement.shape.internal
        ):
            continue
        by_params: dict[int, list[Sample]] = defaultdict(list)
        for sample in statement.samples:
            if sample.orm_load is None and (key := sample.params_key) is not None:
                by_params[key].append(sample)
        for samples in by_params.values():
            if len(samples) < threshold:
                continue
            if len(statement.samples) == statement.count:
                summary = (
                    "Duplicate queries: the same statement with the same parameters ran "
                    f"{len(samples)} times"
                )
            else:  # only the first runs are sampled
                summary = (
                    f"Duplicate queries: the same statement ran {statement.count} times; "
                    f"{len(samples)} of its first {len(statement.samples)} runs had the same "
                    "parameters"
                )
            message = "\n".join(
                [
                    summary,
                    f"  {sites_text([record.site(sample.site_key) for sample in samples])}",
                    f"  {display_sql(statement.shape.fingerprint)}",
                    "Fix: run it once and reuse the result (or cache it for the request).",
                ]
            )
            findings.append(
                Finding(
                    kind=Kind.DUPLICATE_QUERIES,
                    verdict=mode,
                    summary=summary,
                    message=message,
                    details={"queries": len(samples), "statement": statement.shape.fingerprint},
                    site=record.site(samples[0].site_key),
                )
            )
    return findings
