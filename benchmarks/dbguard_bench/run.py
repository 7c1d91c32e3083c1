"""Running pytest on the generated suites: one subprocess per run, in interleaved rounds.

Black-box: the benchmark only starts ``python -m pytest`` with or without the plugin and reads
what the suite's ``bench_timing.py`` wrote (each test's call phase, wall and CPU, the peak RSS)
and the process's wall time. So it measures whatever the plugin is when it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .suites import Suite


def log(message: str) -> None:
    """Progress goes to stderr; the report to stdout."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Mode:
    """One way of running a suite."""

    name: str
    args: tuple[str, ...] = ()  # pytest's extra arguments
    python: str = sys.executable
    # A warm rerun: run the command twice in a row with one pytest cache directory, and time
    # the second run. Every other run gets a cache directory of its own (a cold run).
    rerun: bool = False


@dataclass(frozen=True)
class Job:
    """A mode on a suite and a database: run once per round."""

    suite: Suite
    mode: Mode
    target: str  # "sqlite" or "postgresql"
    url: str


@dataclass
class Run:
    """One pytest process and the figures its suite reported."""

    suite: str
    target: str
    mode: str
    round: int  # -1: not a timed round (a warm-up, a check)
    process_wall: float  # the whole pytest process: start-up, collection, fixtures, tests
    per_test: dict[str, list[float]]  # nodeid: [wall, cpu] of its call phase
    failed: int
    warnings: int
    warning_texts: list[str]
    peak_rss: int  # bytes, the largest of the run's processes
    output: str = field(default="", repr=False)  # pytest's output (kept out of the JSON)

    @property
    def tests(self) -> int:
        return len(self.per_test)


class RunFailed(Exception):
    """A run that should have passed did not: the suite or the plugin is broken."""


class Runner:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.count = 0

    def run(
        self, job: Job, round_: int = -1, extra: tuple[str, ...] = (), check: bool = True
    ) -> Run:
        """Run the job's pytest once (twice for a warm rerun); with ``check``, a failing run
        raises ``RunFailed``."""
        self.count += 1
        cache = self.workdir / "cache" / f"run-{self.count}"
        if job.mode.rerun:
            self._pytest(job, cache, extra)  # the first run fills the cache
        return self._pytest(job, cache, extra, round_, check)

    def _pytest(
        self, job: Job, cache: Path, extra: tuple[str, ...], round_: int = -1, check: bool = False
    ) -> Run:
        result = self.workdir / "results" / f"run-{self.count}-{round_}.json"
        result.parent.mkdir(parents=True, exist_ok=True)
        command = [job.mode.python, "-m", "pytest", "-q", "-o", f"cache_dir={cache}"]
        command += [*job.mode.args, *extra]
        start = time.perf_counter()
        done = subprocess.run(
            command, cwd=job.suite.path, env=self._env(job, result), capture_output=True, text=True
        )
        process_wall = time.perf_counter() - start
        # one file per process: pytest-xdist's workers add theirs ("run-3-0.json.gw0")
        reports = [json.loads(p.read_text()) for p in sorted(result.parent.glob(result.name + "*"))]
        output = done.stdout[-6000:] + done.stderr[-3000:]
        if not reports or (check and done.returncode != 0):
            raise RunFailed(
                f"pytest exited {done.returncode} ({job.suite.name}, {job.target}, "
                f"{job.mode.name}):\n{' '.join(command)}\n{output}"
            )
        return Run(
            suite=job.suite.name,
            target=job.target,
            mode=job.mode.name,
            round=round_,
            process_wall=process_wall,
            per_test={k: v for r in reports for k, v in r["per_test"].items()},
            failed=sum(r["failed"] for r in reports),
            warnings=sum(r["warnings"] for r in reports),
            warning_texts=[t for r in reports for t in r["warning_texts"]],
            peak_rss=max(r["peak_rss"] for r in reports),
            output=output,
        )

    def _env(self, job: Job, result: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(job.suite.path)  # for -p bench_counter
        env["PYTHONHASHSEED"] = "0"
        # Cache compiled (and assertion-rewritten) modules inside the work directory: without
        # it every run compiles the generated suite again.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.workdir / "pycache")
        env["BENCH_DATABASE_URL"] = job.url
        env["BENCH_RESULT"] = str(result)
        return env

    def rounds(self, jobs: list[Job], rounds: int, warm_up: bool = True) -> dict[Job, list[Run]]:
        """Every job once per round, in an order rotated from round to round, so that load
        from elsewhere on the machine hits every mode alike. First, unless ``warm_up`` is
        false, one run per suite and target that is not counted (bytecode and database caches
        warm up; it must pass, like every run)."""
        if warm_up:
            first = {(job.suite.name, job.target, job.mode.python): job for job in jobs}
            for job in first.values():
                log(f"  warm-up: {job.suite.name} {job.target} {job.mode.name}")
                self.run(job)
        runs: dict[Job, list[Run]] = {job: [] for job in jobs}
        for round_ in range(rounds):
            shift = round_ % len(jobs)
            for job in jobs[shift:] + jobs[:shift]:
                run = self.run(job, round_)
                runs[job].append(run)
                log(
                    f"  round {round_ + 1}/{rounds} {job.suite.name:<14} {job.target:<10} "
                    f"{job.mode.name:<20} run {run.process_wall:6.2f}s  "
                    f"calls {sum(t[0] for t in run.per_test.values()):6.2f}s"
                )
        return runs


def as_json(run: Run) -> dict[str, Any]:
    """A run for the results file (without pytest's output)."""
    fields = dict(vars(run))
    fields.pop("output")
    return fields
