"""What the benchmark prints: one section per goal (the goal, its readings, the figures), and
the results file of the whole run."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .run import Job, Run, as_json
from .stats import Estimate, call_phases, ratio, reading, series, whole_run


@dataclass
class Reading:
    what: str
    limit: float | None
    estimate: Estimate | None
    verdict: str  # "met", "missed", "inconclusive (...)", or the words of a non-ratio goal

    def line(self) -> str:
        words = [f"- **{self.verdict}**: {self.what}"]
        if self.estimate is not None:
            words.append(self.estimate.text())
        if self.limit is not None:
            words.append(f"(goal: at most {self.limit:g}x)")
        return " ".join(words)


@dataclass
class Section:
    """One goal: what it asks, why the suite represents it, and what was measured."""

    title: str
    goal: str
    why: str
    readings: list[Reading] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)

    def read(self, what: str, estimate: Estimate | None, limit: float | None, verdict: str) -> None:
        self.readings.append(Reading(what, limit, estimate, verdict))

    def read_ratio(
        self, runs: dict[Job, list[Run]], job: Job, base: Job, limit: float | None
    ) -> None:
        """Read ``job / base`` on the whole run against ``limit``; then the call phases'
        ratio, for reference."""
        for metric, name in ((whole_run, "whole run"), (call_phases, "call phases")):
            estimate = ratio(series(runs[job], metric), series(runs[base], metric))
            what = f"{job.suite.name}, {job.target}: {job.mode.name} / {base.mode.name}, {name}:"
            if metric is whole_run and limit is not None:
                self.read(what, estimate, limit, reading(estimate, limit))
            else:
                self.read(what, estimate, None, "for reference")

    def ratio_table(self, runs: dict[Job, list[Run]], base: Callable[[Job], Job]) -> None:
        """Each job's whole run and call phases, and their ratios to those of ``base(job)``."""
        rows = []
        for job, mine in runs.items():
            run, calls = series(mine, whole_run), series(mine, call_phases)
            base_runs = runs[base(job)]
            run_ratio = ratio(run, series(base_runs, whole_run)).text()
            calls_ratio = ratio(calls, series(base_runs, call_phases)).text()
            rows.append(
                [
                    job.suite.name,
                    job.target,
                    job.mode.name,
                    f"{run.value:.2f}",
                    run_ratio,
                    f"{calls.value:.3f}",
                    calls_ratio,
                ]
            )
        header = ["suite", "database", "mode", "whole run s", "x base", "call phases s", "x base"]
        self.table(header, rows)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        self.lines += ["| " + " | ".join(row) + " |" for row in rows]

    def note(self, text: str) -> None:
        self.lines += ["", text]

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", f"Goal: {self.goal}", "", self.why, ""]
        parts += [reading.line() for reading in self.readings]
        parts += self.lines
        warned = sum(run.warnings for run in self.runs)
        if warned:  # the suites are meant to run clean: a warning may cost time
            texts = sorted({t for run in self.runs for t in run.warning_texts})[:3]
            parts += ["", f"Warnings raised by the suites: {warned}, e.g. " + "; ".join(texts)]
        return "\n".join(parts) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "goal": self.goal,
            "readings": [
                {
                    "what": r.what,
                    "limit": r.limit,
                    "estimate": None if r.estimate is None else vars(r.estimate),
                    "verdict": r.verdict,
                }
                for r in self.readings
            ],
            "runs": [as_json(run) for run in self.runs],
        }


def write_results(directory: Path, header: dict[str, Any], sections: list[Section]) -> Path:
    """``directory/<timestamp>.json``: every run, down to each test's timings."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"{stamp}.json"
    data = {**header, "sections": [section.as_json() for section in sections]}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path
