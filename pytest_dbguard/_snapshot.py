"""Golden plan snapshots: one text file per test under ``__dbguard__/`` beside its module.

The format is meant for pull-request diffs: a short header, then each statement the test ran
(its fingerprint and how many times it ran) with its plan tree. Files are written atomically
(a temporary file renamed over the old one), so an interrupted update leaves every file either
as it was or complete. A broken file is an error naming the file and line.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._plans import PlanNode, PlanSyntaxError, parse, render

FORMAT_VERSION = 1
DIRECTORY = "__dbguard__"
SUFFIX = ".plan"
_TITLE = "# pytest-dbguard plan snapshot"
_STATEMENT = re.compile(r"^statement (?P<number>\d+), ran (?P<runs>\d+) times?:$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]=,+@]")


@dataclass
class StatementPlan:
    sql: str  # the statement's fingerprint
    runs: int
    plan: PlanNode


@dataclass
class Snapshot:
    server_major: int
    test: str
    statements: list[StatementPlan]


class SnapshotError(Exception):
    """A snapshot file that cannot be read: names the file and, where it applies, the line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")


def snapshot_name(nodeid: str) -> str:
    """``tests/test_x.py::TestA::test_b[1-x]`` -> ``TestA.test_b[1-x].plan``."""
    name = ".".join(nodeid.split("::")[1:])
    name = _UNSAFE.sub("_", name)
    if len(name) > 150:  # keep file names within every filesystem's limit
        name = name[:130] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return name + SUFFIX


def snapshot_dir(module_path: Path) -> Path:
    return module_path.parent / DIRECTORY / module_path.stem


def render_snapshot(snapshot: Snapshot) -> str:
    lines = [
        _TITLE,
        f"# format: {FORMAT_VERSION}",
        f"# postgresql: {snapshot.server_major}",
        f"# test: {snapshot.test}",
    ]
    for number, statement in enumerate(snapshot.statements, start=1):
        lines += ["", *statement_lines(number, statement, figures=True)]
    return "\n".join(lines) + "\n"


def statement_lines(number: int, statement: StatementPlan, *, figures: bool) -> list[str]:
    times = "time" if statement.runs == 1 else "times"
    heading = f"statement {number}, ran {statement.runs} {times}:"
    return [heading, f"  {statement.sql}", *render(statement.plan, figures=figures)]


def parse_snapshot(text: str, path: str) -> Snapshot:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = {}
    if not lines or lines[0] != _TITLE:
        raise SnapshotError(path, 1, f"not a pytest-dbguard plan snapshot (expected {_TITLE!r})")
    number = 1
    while number < len(lines) and lines[number].startswith("# "):
        key, _, value = lines[number][2:].partition(": ")
        header[key] = (value, number + 1)
        number += 1
    version = _header_int(header, "format", path)
    if version > FORMAT_VERSION:
        raise SnapshotError(
            path,
            header["format"][1],
            f"written in snapshot format {version} by a newer pytest-dbguard; this version "
            f"reads format {FORMAT_VERSION}: upgrade pytest-dbguard",
        )
    if version < 1:
        raise SnapshotError(path, header["format"][1], f"unknown snapshot format {version}")
    snapshot = Snapshot(_header_int(header, "postgresql", path), header.get("test", ("", 0))[0], [])
    blocks = _blocks(lines, number, path)
    for start, block in blocks:
        snapshot.statements.append(_statement(block, start, path, len(snapshot.statements) + 1))
    return snapshot


def _header_int(header: dict[str, tuple[str, int]], key: str, path: str) -> int:
    if key not in header:
        raise SnapshotError(path, None, f"the header has no '# {key}:' line")
    value, line = header[key]
    if not value.isdigit():
        raise SnapshotError(path, line, f"'# {key}:' must be a number, not {value!r}")
    return int(value)


def _blocks(lines: list[str], start: int, path: str) -> list[tuple[int, list[str]]]:
    """Statement blocks, separated by blank lines, with the file line each one starts on."""
    blocks: list[tuple[int, list[str]]] = []
    for index in range(start, len(lines)):
        if lines[index] == "":
            blocks.append((index + 2, []))
        elif not blocks:
            raise SnapshotError(path, index + 1, "expected a blank line before the first statement")
        else:
            blocks[-1][1].append(lines[index])
    return [(first, block) for first, block in blocks if block]


def _statement(block: list[str], first: int, path: str, expected: int) -> StatementPlan:
    match = _STATEMENT.match(block[0])
    if not match:
        raise SnapshotError(path, first, f"expected 'statement {expected}, ran N times:'")
    if int(match.group("number")) != expected:
        raise SnapshotError(path, first, f"expected statement number {expected}")
    if len(block) < 3 or not block[1].startswith("  ") or block[1].startswith("  -> "):
        raise SnapshotError(path, first + 1, "expected the statement's SQL, indented by 2 spaces")
    try:
        plan = parse(block[2:])
    except PlanSyntaxError as error:
        raise SnapshotError(path, first + 2 + error.offset, str(error)) from None
    return StatementPlan(block[1][2:], int(match.group("runs")), plan)


def read_snapshot(path: Path, display: str) -> Snapshot | None:
    """The stored snapshot, ``None`` when there is none; ``SnapshotError`` when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error  # no absolute path in messages
        raise SnapshotError(display, None, f"cannot be read: {reason}") from None
    return parse_snapshot(text, display)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
