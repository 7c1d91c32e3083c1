"""``python -m benchmarks.dbguard_bench [--only GOAL,GOAL] [--rounds N] [--quick]``

Runs the goals of issue 12 (see goals.py and benchmarks/README.md), prints each goal's reading
as it finishes, and writes every run to ``benchmarks/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from . import postgres, venv
from .goals import GOALS, Bench
from .report import Section, write_results
from .run import RunFailed, Runner, log

RESULTS = Path(__file__).resolve().parent.parent / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dbguard_bench",
        description="What pytest-dbguard costs, goal by goal.",
    )
    parser.add_argument(
        "--only",
        default=",".join(GOALS),
        help=f"goals to run, comma-separated (default: {','.join(GOALS)})",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds of every goal")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: small suites, 2 rounds, no warm-up runs"
    )
    parser.add_argument(
        "--save-summary",
        action="store_true",
        help="also write the report to benchmarks/results/latest.md",
    )
    parser.add_argument(
        "--plugins-venv",
        type=Path,
        default=venv.DEFAULT,
        help=f"the plugins goal's venv, created if missing (default {venv.DEFAULT})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated suites")
    args = parser.parse_args(argv)
    args.goals = [name.strip() for name in args.only.split(",") if name.strip()]
    if not args.goals or set(args.goals) - set(GOALS):
        parser.error(f"--only: choose among {', '.join(GOALS)}")
    if args.rounds is not None and args.rounds < 2:
        parser.error("--rounds: at least 2 (an interval needs them)")
    return args


def commit() -> str:
    """The repository's commit, and whether the plugin's files differ from it."""
    repository = str(venv.REPOSITORY)
    try:
        head = subprocess.run(
            ["git", "-C", repository, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", repository, "status", "--porcelain", "--", "pytest_dbguard"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" plus {len(changed)} changed files in pytest_dbguard/" if changed else "")


def plugin_tree() -> str:
    """What is measured: the committed tree of pytest_dbguard/ and its uncommitted changes
    (a commit that touches only other files does not change the plugin)."""
    repository = str(venv.REPOSITORY)
    try:
        return (
            subprocess.run(
                ["git", "-C", repository, "rev-parse", "HEAD:pytest_dbguard"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            + subprocess.run(
                ["git", "-C", repository, "diff", "HEAD", "--", "pytest_dbguard"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def plugin_location() -> str:
    """Where this interpreter's pytest-dbguard lives (the tree that is measured)."""
    spec = importlib.util.find_spec("pytest_dbguard")
    if spec is None or spec.origin is None:
        return "nowhere: not installed"
    return str(Path(spec.origin).parent.parent)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    words = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python -m benchmarks.dbguard_bench", *words])
    started, at_start, tree_at_start = time.perf_counter(), commit(), plugin_tree()
    workdir = Path(tempfile.mkdtemp(prefix="dbguard-bench-"))
    sections: list[Section] = []
    try:
        with (
            postgres.server() as server,
            postgres.scratch_database(server, f"dbguard_bench_{os.getpid()}") as url,
        ):
            setting = (
                f"pytest-dbguard from {plugin_location()}; Python {platform.python_version()}, "
                f"{os.cpu_count()} CPUs, PostgreSQL {postgres.version(server)}"
            )
            print(f"## pytest-dbguard benchmark\n\n`{command}` at {at_start}; {setting}\n")
            bench = Bench(Runner(workdir), workdir, args.quick, args.rounds, url, args.plugins_venv)
            for name in args.goals:
                log(f"{name}:")
                sections.append(GOALS[name](bench))
                print(sections[-1].markdown(), flush=True)
    except RunFailed as failure:
        log(f"a run failed, the benchmark stops:\n{failure}")
        return 1
    finally:
        if args.keep:
            log(f"generated suites kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    at_end = commit()
    changed = (
        "" if plugin_tree() == tree_at_start else f"; at the end {at_end} (the plugin changed)"
    )
    footer = f"{minutes:.1f} min at commit {at_start}{changed}; {setting}."
    print(footer)
    header = {
        "command": command,
        "commit": at_start + changed,
        "setting": setting,
        "minutes": round(minutes, 1),
    }
    log(f"results: {write_results(RESULTS, header, sections)}")
    if args.save_summary:
        summary = "\n".join(section.markdown() for section in sections)
        (RESULTS / "latest.md").write_text(
            f"## pytest-dbguard benchmark\n\n`{command}`: {footer}\n\n{summary}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
