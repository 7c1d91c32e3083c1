"""Check that pytest-dbguard builds and installs as a user would install it.

From a clean clone of this repository (its committed state, not the working tree):

1. ``python -m build`` writes the sdist, then the wheel from the sdist (so a file the sdist
   forgot breaks the wheel); ``twine check --strict`` checks both.
2. The wheel holds every module and data file of the source package, the plugin's entry
   point and the license.
3. The wheel and the sdist each install into a fresh virtualenv, where pytest loads the plugin
   (``pytest --help`` lists ``--dbguard-`` options) and the plugin fails a test over budget.
4. Every shell block of the install instructions marked ``<!-- check_dist -->`` (in README.md
   and docs/install.md) runs as written in a fresh virtualenv and directory, with the public
   repository URL replaced by the clean clone served over HTTP on 127.0.0.1 (git's "dumb"
   HTTP protocol: ``git clone`` and pip's ``git+http`` URLs work as with the real host); then
   the plugin loads there too, and the extras the block names can be imported.

Run: ``python scripts/check_dist.py`` (needs ``build`` and ``twine``, in the ``test`` extra,
and git). Exits non-zero on the first failure; removes everything it created.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTIONS = ["README.md", "docs/install.md"]
# The repository's public URL in the instructions; a placeholder until the project has one.
REPOSITORY_URL = "https://github.com/pytest-dbguard/pytest-dbguard"
# What each extra must make importable.
EXTRA_MODULES = {"postgresql": "psycopg", "asyncio": "greenlet"}

MARKED_BLOCK = re.compile(r"<!-- check_dist -->\s*\n```(?:bash|sh|console)\n(.*?)```", re.S)
EXTRAS = re.compile(r"pytest[-_]dbguard\[([a-z0-9_,\s-]+)\]")

OVER_BUDGET_TEST = """
import pytest
from sqlalchemy import create_engine, text


@pytest.mark.max_queries(1)
def test_two_queries():
    with create_engine("sqlite://").connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.execute(text("SELECT 2"))
"""


class CheckFailed(Exception):
    pass


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; its output is shown only when it fails."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CheckFailed(
            f"`{' '.join(map(str, command))}` exited {result.returncode}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def step(message: str) -> None:
    print(f"== {message}", flush=True)


def clean_clone(work: Path) -> Path:
    clone = work / "clean"
    run("git", "clone", "--quiet", "--no-hardlinks", ROOT, clone, cwd=work)
    commit = run("git", "log", "-1", "--format=%h %s", cwd=clone).strip()
    step(f"clean clone of {ROOT} at {commit}")
    return clone


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(clone: Path, work: Path) -> Iterator[str]:
    """The clone as a git repository at http://127.0.0.1:PORT/pytest-dbguard(.git), for as long
    as the block runs: the URL that stands for the public one."""
    root = work / "served"
    bare = root / "pytest-dbguard.git"
    run("git", "clone", "--quiet", "--bare", clone, bare, cwd=work)
    run("git", "update-server-info", cwd=bare)  # what the dumb HTTP protocol reads
    (root / "pytest-dbguard").symlink_to(bare.name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pytest-dbguard"
    finally:
        server.shutdown()
        server.server_close()


def build(clone: Path, work: Path) -> tuple[Path, Path]:
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, clone, cwd=work)
    (sdist,) = dist.glob("pytest_dbguard-*.tar.gz")
    (wheel,) = dist.glob("pytest_dbguard-*.whl")
    step(f"built {sdist.name} and {wheel.name}")
    run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel, cwd=work)
    step("twine check --strict: passed")
    return sdist, wheel


def check_wheel_contents(wheel: Path, clone: Path) -> None:
    package = clone / "pytest_dbguard"
    expected = {
        path.relative_to(clone).as_posix()
        for path in package.rglob("*")
        if path.is_file() and (path.suffix in {".py", ".json"} or path.name == "py.typed")
    }
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(
            archive.read(name).decode() for name in names if name.endswith("entry_points.txt")
        )
    missing = sorted(expected - names)
    if missing:
        raise CheckFailed(f"the wheel lacks {missing}")
    strays = sorted(name for name in names if name.startswith(("tests/", "testing/", "examples/")))
    if strays:
        raise CheckFailed(f"the wheel holds files that are not the package's: {strays}")
    if "dbguard = pytest_dbguard.plugin" not in entry_points:
        raise CheckFailed(f"the wheel's entry points lack the plugin:\n{entry_points}")
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        raise CheckFailed("the wheel lacks the LICENSE file")
    step(f"the wheel holds the {len(expected)} files of the package, its entry point and LICENSE")


def fresh_venv(path: Path) -> dict[str, str]:
    """A virtualenv, and the environment in which ``python`` and ``pip`` are its own."""
    run(sys.executable, "-m", "venv", path, cwd=path.parent)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["VIRTUAL_ENV"] = str(path)
    env["PATH"] = f"{path / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def check_plugin_loads(env: dict[str, str], where: Path, extras: set[str]) -> None:
    """pytest in this environment loads the plugin, and the plugin works."""
    help_text = run("python", "-m", "pytest", "--help", cwd=where, env=env)
    if "--dbguard-" not in help_text:
        raise CheckFailed("pytest --help lists no --dbguard- option: the plugin is not loaded")
    (where / "test_budget.py").write_text(OVER_BUDGET_TEST)
    result = subprocess.run(
        ["python", "-m", "pytest", "-p", "no:cacheprovider", "test_budget.py"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 1 or "Expected at most 1" not in result.stdout:
        raise CheckFailed(f"the plugin did not fail the test over budget:\n{result.stdout}")
    for extra in sorted(extras):
        run("python", "-c", f"import {EXTRA_MODULES[extra]}", cwd=where, env=env)


def install_file(archive: Path, work: Path) -> None:
    where = work / f"install-{archive.name}"
    where.mkdir()
    env = fresh_venv(where / "venv")
    run("python", "-m", "pip", "install", "--quiet", archive, cwd=where, env=env)
    check_plugin_loads(env, where, extras=set())
    step(f"{archive.name} installs in a fresh virtualenv; pytest loads the plugin")


def instruction_blocks(clone: Path) -> list[tuple[str, str]]:
    """The marked blocks of the committed instructions, with the file each comes from."""
    return [
        (name, match.group(1))
        for name in INSTRUCTIONS
        if (clone / name).exists()
        for match in MARKED_BLOCK.finditer((clone / name).read_text())
    ]


def run_instructions(block: str, number: int, url: str, work: Path) -> None:
    where = work / f"instructions-{number}"
    where.mkdir()
    env = fresh_venv(work / f"instructions-{number}-venv")
    local = block.replace(REPOSITORY_URL, url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", local],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CheckFailed(
            f"the instructions failed (exit {result.returncode}):\n{block}\n"
            f"{result.stdout}{result.stderr}"
        )
    extras = {name.strip() for group in EXTRAS.findall(block) for name in group.split(",") if name}
    unknown = extras - EXTRA_MODULES.keys()
    if unknown:
        raise CheckFailed(f"the instructions name extras this script cannot check: {unknown}")
    check_plugin_loads(env, where, extras)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="dbguard-dist-"))
    try:
        clone = clean_clone(work)
        sdist, wheel = build(clone, work)
        check_wheel_contents(wheel, clone)
        install_file(wheel, work)
        install_file(sdist, work)
        blocks = instruction_blocks(clone)
        if not blocks:
            raise CheckFailed(f"no <!-- check_dist --> block in {INSTRUCTIONS}")
        with served(clone, work) as url:
            for number, (name, block) in enumerate(blocks, start=1):
                run_instructions(block, number, url, work)
                install = block.strip().splitlines()[-1]
                step(f"{name}, block {number} ({install}): works as written")
    except CheckFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("check_dist: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
