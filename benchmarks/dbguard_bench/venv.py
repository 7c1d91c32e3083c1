"""The virtualenv of the plugins goal: pytest-dbguard beside the other query-count plugins.

Created on first use: pytest-dbguard from this repository (editable, so it measures the working
tree) and each plugin from PyPI, every package pinned to the version the benchmark's own
interpreter has (the same SQLAlchemy, pytest and psycopg for every mode).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from .run import log

REPOSITORY = Path(__file__).resolve().parents[2]
DEFAULT = Path("/work/venv-bench-plugins")


def plugins_python(path: Path, distributions: list[str]) -> str:
    """The venv's interpreter, the venv created if missing."""
    python = path / "bin" / "python"
    if python.exists():
        _measure_this_repository(str(python))
        return str(python)
    log(f"plugins: creating {path} (a minute or two)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True)
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = [line for line in freeze.splitlines() if re.fullmatch(r"[\w.\-]+==[\w.\-+]+", line)]
    constraints = path / "bench-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    pip = [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints)]
    subprocess.run([*pip, "-e", f"{REPOSITORY}[postgresql]"], check=True)
    for distribution in distributions:
        done = subprocess.run([*pip, distribution], capture_output=True, text=True)
        if done.returncode != 0:  # the goal then reports the plugin as missing
            log(f"plugins: could not install {distribution}: {done.stderr.strip()[-300:]}")
    return str(python)


def entry_points(python: str) -> dict[str, str]:
    """The interpreter's pytest plugins: entry-point name -> "distribution version"."""
    code = (
        "import importlib.metadata as m, json; print(json.dumps({e.name: "
        "f'{e.dist.name} {e.dist.version}' for e in m.entry_points(group='pytest11')}))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    found: dict[str, str] = json.loads(done.stdout)
    return found


def _measure_this_repository(python: str) -> None:
    """Point the venv's pytest-dbguard at this repository: a venv created from another
    working tree would measure that tree's plugin."""
    where = subprocess.run(
        [python, "-c", "import pytest_dbguard; print(pytest_dbguard.__file__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if Path(where).parent != REPOSITORY / "pytest_dbguard":
        log(f"plugins: installing pytest-dbguard from {REPOSITORY} (was {where or 'missing'})")
        pip = [python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPOSITORY)]
        subprocess.run(pip, check=True)
