"""Golden plan snapshot files: one per test, a text made for pull-request diffs.

```
# pytest-dbguard plan snapshot
# format: 2
# postgresql: 18
# plans: indexed
# test: tests/test_orders.py::test_list_orders[1]

SELECT id, title FROM items WHERE user_id = ?
  -> Index Scan using ix_items_user_id on items
       Index Cond: (items.user_id = ?)
```

Each statement the test ran (its fingerprint, in the order of first run) with its plan tree.
Statements are matched by their fingerprint, not their position: one statement added or
removed is one change. Indexed plans carry no figures (see ``rules/plans.py``); as-is plans
carry each node's estimated cost and rows. Files are written atomically (a temporary file,
created with the umask's permissions, renamed over the old one), so an interrupted update
leaves every file either as it was or complete. A broken file is an error naming the file and
line.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..rules.plans import PlanNode, PlanSyntaxError, parse, render

FORMAT_VERSION = 2
INDEXED = "indexed"
AS_IS = "as-is"
_TITLE = "# pytest-dbguard plan snapshot"


@dataclass
class StatementPlan:
    sql: str  # the statement's fingerprint
    plan: PlanNode


@dataclass
class Snapshot:
    server_major: int
    plans: str  # INDEXED or AS_IS
    test: str
    statements: list[StatementPlan]

    def by_sql(self) -> dict[str, StatementPlan]:
        return {statement.sql: statement for statement in self.statements}


class SnapshotError(Exception):
    """A snapshot file that cannot be read: names the file and, where it applies, the line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")


def render_snapshot(snapshot: Snapshot) -> str:
    lines = [
        _TITLE,
        f"# format: {FORMAT_VERSION}",
        f"# postgresql: {snapshot.server_major}",
        f"# plans: {snapshot.plans}",
        f"# test: {snapshot.test}",
    ]
    for statement in snapshot.statements:
        lines += ["", *statement_lines(statement)]
    return "\n".join(lines) + "\n"


def statement_lines(statement: StatementPlan) -> list[str]:
    return [statement.sql, *render(statement.plan)]


def parse_snapshot(text: str, path: str) -> Snapshot:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != _TITLE:
        raise SnapshotError(path, 1, f"not a pytest-dbguard plan snapshot (expected {_TITLE!r})")
    header: dict[str, tuple[str, int]] = {}
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
    if version < FORMAT_VERSION:
        raise SnapshotError(
            path,
            header["format"][1],
            f"written in snapshot format {version} by an older pytest-dbguard, whose plans "
            "depended on the test data's statistics; format 2 records indexed plans that do "
            "not: retake it with --dbguard-update",
        )
    plans = header.get("plans", (INDEXED, 0))
    if plans[0] not in (INDEXED, AS_IS):
        raise SnapshotError(path, plans[1], f"'# plans:' is {INDEXED} or {AS_IS}")
    snapshot = Snapshot(
        _header_int(header, "postgresql", path), plans[0], header.get("test", ("", 0))[0], []
    )
    for start, block in _blocks(lines, number, path):
        snapshot.statements.append(_statement(block, start, path))
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


def _statement(block: list[str], first: int, path: str) -> StatementPlan:
    if block[0].startswith(" ") or len(block) < 2:
        raise SnapshotError(path, first, "expected a statement, then its plan indented below it")
    try:
        plan = parse(block[1:])
    except PlanSyntaxError as error:
        raise SnapshotError(path, first + 1 + error.offset, str(error)) from None
    return StatementPlan(block[0], plan)


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
    """Write ``text`` to ``path`` through a temporary file renamed over it. The temporary
    file is created with mode 0o666 minus the umask, like any file a tool writes (mkstemp's
    0o600 would make snapshots and reports private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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
