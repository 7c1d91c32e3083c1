"""Figures from runs: medians over rounds, ratios of runs from the same rounds, intervals.

The machine is shared: other processes take the CPU at any moment. So a figure is a median
over rounds, a ratio divides figures of runs that ran side by side in the same rounds, and its
interval is a paired bootstrap: the rounds are drawn again with replacement (the same draw for
both sides of the ratio), the ratio is computed on each draw, and the 5th and 95th
percentiles of those ratios bound a 90% interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from .run import Run

CONFIDENCE = 0.90
RESAMPLES = 1000

# A metric: one figure, in seconds, from the runs of one mode in the chosen rounds.
Metric = Callable[[list[Run], Sequence[int]], float]


def whole_run(runs: list[Run], rounds: Sequence[int]) -> float:
    """The median wall time of the pytest process: what a user waits for."""
    return statistics.median(runs[i].process_wall for i in rounds)


def call_phases(runs: list[Run], rounds: Sequence[int]) -> float:
    """The sum over tests of each test's median call phase (wall). Per test, not per run: a
    burst of load from elsewhere slows a few tests of one run, and a per-test median drops it."""
    return _per_test(runs, rounds, 0, statistics.median)


def call_phases_best(runs: list[Run], rounds: Sequence[int]) -> float:
    """The sum over tests of each test's fastest call phase. Load only ever adds time, so for a
    small difference (a few microseconds a statement) the fastest round is the steadier."""
    return _per_test(runs, rounds, 0, min)


def call_cpu(runs: list[Run], rounds: Sequence[int]) -> float:
    """As ``call_phases``, in CPU time of the pytest process (no database server's time)."""
    return _per_test(runs, rounds, 1, statistics.median)


def _per_test(
    runs: list[Run], rounds: Sequence[int], column: int, statistic: Callable[[list[float]], float]
) -> float:
    return sum(
        statistic([runs[i].per_test[test][column] for i in rounds]) for test in runs[0].per_test
    )


@dataclass(frozen=True)
class Series:
    """One mode's figure over all its rounds, and over each bootstrap draw of the rounds."""

    value: float
    draws: tuple[float, ...]


def series(runs: list[Run], metric: Metric) -> Series:
    rounds = len(runs)
    return Series(metric(runs, range(rounds)), tuple(metric(runs, draw) for draw in _draws(rounds)))


@cache
def _draws(rounds: int) -> tuple[tuple[int, ...], ...]:
    """The bootstrap draws for ``rounds`` rounds: the same for every series, so that two series
    of the same rounds are compared draw by draw (paired)."""
    rng = random.Random(20240611)
    return tuple(tuple(rng.randrange(rounds) for _ in range(rounds)) for _ in range(RESAMPLES))


@dataclass(frozen=True)
class Estimate:
    """A figure and its 90% interval."""

    value: float
    low: float
    high: float

    def text(self, unit: str = "x", digits: int = 2) -> str:
        return f"{self.value:.{digits}f}{unit} [{self.low:.{digits}f}…{self.high:.{digits}f}]"


def _estimate(value: float, draws: Sequence[float]) -> Estimate:
    ordered = sorted(draws)
    tail = (1 - CONFIDENCE) / 2
    low = ordered[int(tail * (len(ordered) - 1))]
    high = ordered[int((1 - tail) * (len(ordered) - 1))]
    return Estimate(value, low, high)


def seconds(figure: Series) -> Estimate:
    return _estimate(figure.value, figure.draws)


def ratio(figure: Series, base: Series) -> Estimate:
    """``figure / base``, e.g. the default mode's whole run / the run without the plugin."""
    return _combine(lambda a, b: a / b, figure, base)


def added_ratio(figure: Series, reference: Series, base: Series) -> Estimate:
    """``(figure - base) / (reference - base)``: what one mode adds to the baseline, in units
    of what another adds (the capture goal: pytest-dbguard's added cost / the counter's).
    Infinite where the reference adds nothing measurable."""

    def added(a: float, r: float, b: float) -> float:
        return (a - b) / (r - b) if r > b else float("inf")

    return _combine(added, figure, reference, base)


def ratio_difference(figure: Series, other: Series, base: Series) -> Estimate:
    """``figure / base - other / base``: below 0 when ``figure`` adds less than ``other``."""
    return _combine(lambda a, o, b: a / b - o / b, figure, other, base)


def _combine(function: Callable[..., float], *figures: Series) -> Estimate:
    if len({len(f.draws) for f in figures}) != 1:
        raise ValueError("series of different rounds cannot be paired")
    value = function(*(f.value for f in figures))
    draws = [function(*values) for values in zip(*(f.draws for f in figures), strict=True)]
    return _estimate(value, draws)


def reading(estimate: Estimate, limit: float) -> str:
    """A ratio goal's verdict: met or missed when the whole interval is on one side of the
    limit, else inconclusive."""
    if math.isinf(estimate.value):  # an added ratio whose reference adds nothing measurable
        return "inconclusive (the reference's added cost is within noise)"
    if estimate.high <= limit:
        return "met"
    if estimate.low > limit:
        return "missed"
    return f"inconclusive (within noise of {limit:g}x)"
