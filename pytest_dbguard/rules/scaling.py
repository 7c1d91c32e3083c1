"""Scale-factor assertions: is the number of statements a block runs constant (or at most
linear, with a stated slope) in the amount of data? Pure: counts in, finding out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..capture.callsites import CallSite
from ..findings import Finding, Kind, Mode
from .text import display_sql, sites_text

_MAX_LISTED = 10


@dataclass
class ShapeRuns:
    """One statement shape: its runs at each scale, where it ran, and the relationships whose
    lazy loads sent it."""

    fingerprint: str
    runs: list[int]  # one per scale, in the scales' order
    sites: list[CallSite] = field(default_factory=list)
    lazy: list[tuple[str, str]] = field(default_factory=list)  # (relationship, loader fix)


@dataclass(frozen=True)
class Expectation:
    slope: float | None  # None: constant
    source: str  # "dbguard.assert_constant_queries(scales=(2, 5)) at test_x.py:12"


def violated(expected: Expectation, scales: Sequence[int], totals: Sequence[int]) -> bool:
    if expected.slope is None:
        return len(set(totals)) > 1
    first_scale, first = scales[0], totals[0]
    return any(
        total - first > expected.slope * (scale - first_scale) + 1e-9
        for scale, total in zip(scales[1:], totals[1:], strict=True)
    )


def _runs_text(scales: Sequence[int], totals: Sequence[int]) -> str:
    parts = [f"{total} at scale {scale}" for scale, total in zip(scales, totals, strict=True)]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}"


def _slope_text(slope: float) -> str:
    return f"{slope:g}"


def scaling_finding(
    expected: Expectation,
    scales: Sequence[int],
    totals: Sequence[int],
    shapes: Sequence[ShapeRuns],
) -> Finding | None:
    """A failing finding when the totals break the expectation, naming the statements whose
    count changed with the scale, their call sites and the loader fix of lazy loads."""
    if not violated(expected, scales, totals):
        return None
    if expected.slope is None:
        summary = (
            "Query count grows with the data: expected the same number of queries at every "
            f"scale, ran {_runs_text(scales, totals)}"
        )
    else:
        growth = (totals[-1] - totals[0]) / (scales[-1] - scales[0])
        summary = (
            f"Query count grows faster than the data: expected at most "
            f"{_slope_text(expected.slope)} more per unit of scale (slope), ran "
            f"{_runs_text(scales, totals)} ({growth:.3g} more per unit)"
        )
    changed = sorted(
        (shape for shape in shapes if len(set(shape.runs)) > 1),
        key=lambda shape: (shape.runs[0] - shape.runs[-1], shape.fingerprint),
    )
    arrow = " → ".join(str(scale) for scale in scales)
    lines = [summary, f"  ({expected.source}; populate and the warm-up run are not counted)"]
    lines.append(f"Statements whose count changed (runs at scale {arrow}):")
    for number, shape in enumerate(changed[:_MAX_LISTED], start=1):
        label = f"{number}."
        runs = " → ".join(map(str, shape.runs))
        lines.append(f"  {label:<4}{runs}x  {display_sql(shape.fingerprint)}")
        lines.append(f"      {sites_text(shape.sites)}")
        for relationship, fix in shape.lazy:
            cls = relationship.split(".", 1)[0]
            lines.append(
                f"      a lazy load of {relationship}: load it with the query that loads the "
                f"{cls} objects: {fix}"
            )
    if len(changed) > _MAX_LISTED:
        lines.append(f"  ... and {len(changed) - _MAX_LISTED} more statement shapes")
    if not any(shape.lazy for shape in changed):
        lines.append(
            "Fix: fetch the rows in one query before the loop (WHERE ... IN (...) over the keys, "
            "or a JOIN), so that the number of queries does not depend on the number of rows"
        )
    return Finding.from_lines(
        Kind.QUERY_SCALING,
        Mode.FAIL,
        lines,
        {
            "source": expected.source,
            "slope": expected.slope,
            "scales": list(scales),
            "counts": list(totals),
            "statements": [
                {"statement": shape.fingerprint, "runs": shape.runs} for shape in changed[:50]
            ],
            "fix": next((fix for shape in changed for _, fix in shape.lazy), None),
        },
        site=next((shape.sites[0] for shape in changed if shape.sites), None),
    )
