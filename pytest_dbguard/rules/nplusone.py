"""N+1 detection: one statement shape per row of an earlier result, within one unit of work.

Two sources, never both for the same statement: ORM lazy loads (named after their
relationship, with the eager load that fixes them), and Core or text SELECTs run ``threshold``
times from one call site with different parameters. Identical repeats are duplicates, reported
on their own.

Every rule judges one unit of work at a time (``Record.unit_of``: a transaction, a savepoint
such as a request's Session joining the test's transaction, a Session, or a
``dbguard.unit_of_work()`` block): the same view requested twice by one test is two units, not
an N+1. Loops that read a batch at a time (keyset or LIMIT/OFFSET pages, chunks of an IN
list) are not N+1 either: their point is not to read everything at once.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Sequence

from ..capture.callsites import CallSite, SiteKey
from ..capture.record import LazyLoads, Record, Sample, Statement
from ..findings import Finding, Kind, Mode
from .loops import in_loop
from .text import display_sql, sites_text

_ALLOW_HINT = (
    "or, if it is intended: @pytest.mark.allow_nplusone, or `with dbguard.allow_nplusone():`"
)
# Identical runs this far apart (seconds), every one, are a poll or a retry with a wait, not
# a duplicate: the program asks again because the answer may have changed.
_POLL_INTERVAL = 0.01


def find_nplusone(record: Record, threshold: int, mode: Mode) -> list[Finding]:
    findings = [_lazy_load_finding(record, loads, mode) for loads in _worst_unit_per_site(record)]
    for statement in record.shapes():
        if statement.shape.kind == "select" and not statement.shape.internal:
            findings += _repeated_select_findings(record, statement, threshold, mode)
    return [finding for finding in findings if finding is not None]


# -- where: the call site, the loop above a helper, a library's hook ---------------------------


class Location:
    """Where an N+1 happens in the user's code, as its message names it."""

    def __init__(self, record: Record, site_key: SiteKey, callers: Sequence[SiteKey | None]):
        self.site = record.finder.name(site_key)
        known = {caller for caller in callers if caller is not None}
        self.loop: CallSite | None = None  # the caller's loop, when the site is a helper
        if len(known) == 1 and len(known) == len(set(callers)) and not in_loop(*site_key):
            self.loop = record.finder.name(known.pop())

    @property
    def lead(self) -> CallSite:
        """The line to fix: the loop, or the call site itself."""
        return self.loop or self.site

    def lines(self) -> list[str]:
        if self.loop is None:
            return [f"  {sites_text([self.site])}"]
        return [f"  in the loop at {self.loop}", f"  which calls {self.site}"]


def _module_of(site: CallSite) -> str:
    """The dotted module name of a call site's file, for ``dbguard_library_modules``."""
    path = site.path.removesuffix(".py").removesuffix("/__init__")
    return path.replace("/", ".").replace(os.sep, ".").lstrip(".")


# -- ORM lazy loads -----------------------------------------------------------------------------


def _worst_unit_per_site(record: Record) -> list[tuple[LazyLoads, int]]:
    """One finding per relationship and call site: the unit of work that loaded it for the
    most parents; the same view hit by two requests is one N+1, not two."""
    worst: dict[tuple[str, SiteKey | None], tuple[LazyLoads, int]] = {}
    for (relationship, site_key, unit), loads in record.lazy_loads.items():
        kept = worst.get((relationship, site_key))
        if kept is None or len(loads.parents) > len(kept[0].parents):
            worst[(relationship, site_key)] = (loads, unit)
    return list(worst.values())


def _parents_loaded_per_row(record: Record, loads: LazyLoads, unit: int) -> LazyLoads | None:
    """A lazy load, in the same unit, that loaded this load's parents one parent at a time
    (``for bill in bills: for version in bill.versions: version.transaction``): an eager
    load is then needed on both relationships, chained."""
    for (_relationship, _site, other_unit), other in record.lazy_loads.items():
        if (
            other_unit == unit
            and other is not loads
            and other.target_class == loads.parent_class
            and len(other.parents) >= 2
        ):
            return other
    return None


def _lazy_load_finding(record: Record, worst: tuple[LazyLoads, int], mode: Mode) -> Finding | None:
    loads, unit = worst
    runs = sum(1 for seq in loads.seqs if not record.is_nplusone_allowed(seq))
    parents = len(loads.parents) if runs == len(loads.seqs) else runs
    if parents < 2 or runs < 2:
        return None
    cls, loader = loads.parent_class, loads.loader
    outer = _parents_loaded_per_row(record, loads, unit)
    if outer is None:
        fix = loads.fix
        fix_intro = f"Fix: load {loads.relationship} with the query that loads the {cls} objects:"
    else:
        fix = (
            f"select({outer.parent_class}).options("
            f"{outer.loader}({outer.relationship}).{loader}({loads.relationship}))"
        )
        fix_intro = (
            f"Fix: the {cls} objects are themselves lazy-loaded one parent at a time "
            f"({outer.relationship}); load both with the query that loads the "
            f"{outer.parent_class} objects:"
        )
    sql = loads.statement.shape.fingerprint
    summary = (
        f"N+1 query: {loads.relationship} was lazy-loaded for {parents} {cls} objects, "
        "one query each"
    )
    lines = [summary]
    site = record.site(loads.site_key)
    if loads.site_key is not None:
        location = Location(record, loads.site_key, list(loads.callers))
        lines += location.lines()
    else:
        lines.append(f"  {sites_text([site])}")
    lines.append(f"  {loads.count}x {display_sql(sql)}")
    if loads.hook is not None:
        lines += _inside_library(loads.hook)
    else:
        lines += [fix_intro, f"  {fix}", f"  ({loader} from sqlalchemy.orm; {_ALLOW_HINT})"]
    return Finding.from_lines(
        Kind.NPLUSONE,
        mode,
        lines,
        {
            "source": "orm_lazy_load",
            "relationship": loads.relationship,
            "parents": parents,
            "queries": loads.count,
            "call_site": str(site) if site else None,
            "statement": sql,
            "fix": None if loads.hook is not None else fix,
            "library": loads.hook,
        },
        site=site,
    )


def _inside_library(library: str) -> list[str]:
    return [
        f"The query runs inside {library} (an SQLAlchemy event hook of that library sends it), "
        "not in a loop of your code:",
        f"  look for a setting of {library} that batches it, or accept it: "
        "@pytest.mark.allow_nplusone, or `with dbguard.allow_nplusone():`",
    ]


# -- Core and text SELECTs ----------------------------------------------------------------------


def _repeated_select_findings(
    record: Record, statement: Statement, threshold: int, mode: Mode
) -> list[Finding]:
    if len(statement.samples) < threshold or statement.shape.batching is not None:
        return []  # most statements: too few runs; or one batch (page) of rows per run
    groups: dict[tuple[SiteKey, SiteKey | None, int], list[Sample]] = defaultdict(list)
    for sample in statement.samples:
        if (
            sample.site_key is not None
            and sample.params_key is not None
            and sample.orm_load is None
            and not record.is_nplusone_allowed(sample.seq)
        ):
            groups[(sample.site_key, sample.caller, sample.unit)].append(sample)
    worst: dict[tuple[SiteKey, SiteKey | None], list[Sample]] = {}
    for (site_key, caller, _unit), samples in groups.items():
        if _is_nplusone(samples, threshold) and len(samples) > len(
            worst.get((site_key, caller), [])
        ):
            worst[(site_key, caller)] = samples
    return [
        _repeated_select_finding(record, statement, site_key, samples, mode)
        for (site_key, _caller), samples in worst.items()
    ]


def _is_nplusone(samples: list[Sample], threshold: int) -> bool:
    if len(samples) < threshold or len({sample.params_key for sample in samples}) < 2:
        return False  # too few runs, or the same parameters each time (a duplicate at most)
    scalars = {sample.scalar_key for sample in samples}
    return not (len(scalars) == 1 and None not in scalars)  # chunks of one IN list


def _repeated_select_finding(
    record: Record, statement: Statement, site_key: SiteKey, samples: list[Sample], mode: Mode
) -> Finding:
    location = Location(record, site_key, [sample.caller for sample in samples])
    exact = statement.count == len(statement.samples)  # every run of the statement was sampled
    runs = len(samples)
    times = f"{runs} times" if exact else f"at least {runs} times"
    hook = samples[0].hook if all(sample.hook == samples[0].hook for sample in samples) else None
    summary = (
        f"N+1 query: the same SELECT ran {times} from one call site with different parameters, "
        "in one unit of work"
    )
    lines = [summary, *location.lines(), f"  {display_sql(statement.shape.fingerprint)}"]
    if not exact:
        lines.append(
            f"  (call sites are recorded for the first {len(statement.samples)} of its "
            f"{statement.count} runs in this test)"
        )
    if hook is not None:
        lines += _inside_library(hook)
    else:
        lines += [
            f"Fix: fetch the rows for all the keys in one query before the loop at "
            f"{location.lead.path}:{location.lead.lineno} (WHERE ... IN (...) over the keys, "
            "or a JOIN),",
            f"  {_ALLOW_HINT}",
        ]
        lines += _shared_helper_hint(statement, site_key, location)
    site = location.lead
    return Finding.from_lines(
        Kind.NPLUSONE,
        mode,
        lines,
        {
            "source": "repeated_statement",
            "queries": runs,
            "exact": exact,
            "call_site": str(site),
            "helper": str(location.site) if location.loop is not None else None,
            "statement": statement.shape.fingerprint,
            "library": hook,
        },
        site=site,
    )


def _shared_helper_hint(statement: Statement, site_key: SiteKey, location: Location) -> list[str]:
    """A helper called from several places (``repo.scalar()``) is one call site for every
    lookup it makes: naming its module in ``dbguard_library_modules`` makes its callers the
    call sites."""
    callers = {
        sample.caller
        for sample in statement.samples
        if sample.site_key == site_key and sample.caller is not None
    }
    if len(callers) < 2:
        return []
    module = _module_of(location.site)
    return [
        f"Note: {location.site} is called from {len(callers)} places. If it is a shared helper, "
        f"name its module in the ini option dbguard_library_modules (dbguard_library_modules "
        f"= {module}) so that call sites name the code that calls it."
    ]


# -- duplicates ---------------------------------------------------------------------------------


def find_duplicates(record: Record, threshold: int, mode: Mode) -> list[Finding]:
    """Identical statement and parameters run ``threshold`` times or more in one unit of work
    (``dbguard_nplusone_threshold`` sets both limits), unless each run waited for the previous
    one (a poll, or a retry after a pause)."""
    findings = []
    for statement in record.shapes():
        if (
            len(statement.samples) < threshold
            or statement.shape.kind == "transaction"
            or statement.shape.internal
        ):
            continue
        groups: dict[tuple[int, int], list[Sample]] = defaultdict(list)
        for sample in statement.samples:
            if sample.orm_load is None and (key := sample.params_key) is not None:
                groups[(sample.unit, key)].append(sample)
        worst = max(groups.values(), key=len, default=[])
        if len(worst) >= threshold and not _is_polling(worst):
            findings.append(_duplicate_finding(record, statement, worst, mode))
    return findings


def _is_polling(samples: list[Sample]) -> bool:
    return all(
        later.at - earlier.at >= _POLL_INTERVAL for earlier, later in itertools.pairwise(samples)
    )


def _duplicate_finding(
    record: Record, statement: Statement, samples: list[Sample], mode: Mode
) -> Finding:
    if len(statement.samples) == statement.count:
        summary = (
            "Duplicate queries: the same statement with the same parameters ran "
            f"{len(samples)} times in one unit of work"
        )
    else:  # only the first runs are sampled
        summary = (
            f"Duplicate queries: the same statement ran {statement.count} times; "
            f"{len(samples)} of its first {len(statement.samples)} runs had the same "
            "parameters in one unit of work"
        )
    lines = [
        summary,
        f"  {sites_text([record.site(sample.site_key) for sample in samples])}",
        f"  {display_sql(statement.shape.fingerprint)}",
        "Fix: run it once and reuse the result (or cache it for the request).",
    ]
    return Finding.from_lines(
        Kind.DUPLICATE_QUERIES,
        mode,
        lines,
        {"queries": len(samples), "statement": statement.shape.fingerprint},
        record.site(samples[0].site_key),
    )
