"""Writing snapshots at the end of the session, in one place (the controller under xdist).

Tests only decide what to write; the files are written here, after the last test, so that an
interrupted session writes nothing and pytest-xdist workers never race on a file. Orphans (a
snapshot whose test is gone) are removed only from modules that were collected completely:
not under ``-k``, ``-m``, ``--lf`` or a node-id selection.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._snapshot import SUFFIX, snapshot_dir, snapshot_name, write_atomically


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@dataclass
class StoreResult:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # found but left alone (no --dbguard-update)
    errors: list[str] = field(default_factory=list)


class SnapshotStore:
    def __init__(self, rootdir: Path) -> None:
        self.rootdir = rootdir
        self.collected: dict[str, set[str]] = defaultdict(set)  # module -> expected snapshots
        self.incomplete: set[str] = set()  # modules not collected in full
        self.writes: dict[str, str | None] = {}  # path relative to rootdir -> text (None: remove)

    def add_collected(self, items: Iterable[tuple[str, bool]]) -> None:
        """Collected node ids, each with whether its plans are checked (has a snapshot)."""
        for nodeid, checks_plans in items:
            names = self.collected[module_of(nodeid)]
            if checks_plans:
                names.add(snapshot_name(nodeid))

    def mark_incomplete(self, nodeids: Iterable[str]) -> None:
        self.incomplete.update(module_of(nodeid) for nodeid in nodeids)

    def export(self) -> dict[str, Any]:
        """What a pytest-xdist worker knows of the collection, for the controller."""
        return {
            "collected": {module: sorted(names) for module, names in self.collected.items()},
            "incomplete": sorted(self.incomplete),
        }

    def merge(self, exported: dict[str, Any]) -> None:
        for module, names in exported.get("collected", {}).items():
            self.collected[module].update(names)
        self.incomplete.update(exported.get("incomplete", ()))

    def finish(self, *, update: bool, orphans: bool) -> StoreResult:
        """Write the snapshots; with ``orphans``, find (and with ``update`` remove) snapshot
        files whose tests no longer check plans."""
        result = StoreResult()
        for relative, text in sorted(self.writes.items()):
            path = self.rootdir / relative
            try:
                if text is not None:
                    write_atomically(path, text)
                    result.written.append(relative)
                elif path.exists():
                    path.unlink()
                    result.removed.append(relative)
            except OSError as error:
                result.errors.append(f"{relative}: cannot write the snapshot: {error.strerror}")
        for relative in self._orphans() if orphans else []:
            if not update:
                result.orphans.append(relative)
                continue
            try:
                (self.rootdir / relative).unlink()
                result.removed.append(relative)
            except OSError as error:
                result.errors.append(
                    f"{relative}: cannot remove the orphaned snapshot: {error.strerror}"
                )
        return result

    def _orphans(self) -> list[str]:
        orphans = []
        for module, names in sorted(self.collected.items()):
            if module in self.incomplete:
                continue
            directory = snapshot_dir(self.rootdir / module)
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob(f"*{SUFFIX}")):
                if path.name not in names:
                    orphans.append(os.path.relpath(path, self.rootdir).replace(os.sep, "/"))
        return orphans

    def lines(self, result: StoreResult) -> list[str]:
        lines = []
        if result.written:
            lines.append(f"dbguard: wrote {len(result.written)} plan snapshot(s):")
            lines += [f"  {path}" for path in result.written]
        if result.removed:
            lines.append(f"dbguard: removed {len(result.removed)} plan snapshot(s):")
            lines += [f"  {path}" for path in result.removed]
        if result.orphans:
            lines.append(
                f"dbguard: {len(result.orphans)} orphaned plan snapshot(s), whose tests are gone "
                "(--dbguard-update removes them):"
            )
            lines += [f"  {path}" for path in result.orphans]
        lines += [f"dbguard: ERROR {error}" for error in result.errors]
        return lines
