"""Writing snapshots at the end of the session, in one place (the controller under xdist).

Tests only decide what to write; the files are written here, after the last test, so that an
interrupted session writes nothing and pytest-xdist workers never race on a file.

A golden file is removed only when its test no longer exists: the store knows every test
collected (each item as pytest collects it, before any plugin or conftest deselects or drops
items), and looks for orphans only in modules that were collected completely (not those
named with ``::`` on the command line). A test that exists keeps its file, whatever was
selected, and whether or not its plans are checked in this run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .format import write_atomically
from .location import SUFFIX, directory, file_name, module_of, relative


@dataclass
class StoreResult:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # found but left alone (no --dbguard-update)
    errors: list[str] = field(default_factory=list)


class SnapshotStore:
    def __init__(self, rootdir: Path) -> None:
        self.rootdir = rootdir
        self.collected: dict[str, set[str]] = defaultdict(set)  # module -> its tests' files
        self.incomplete: set[str] = set()  # modules not collected in full
        self.writes: dict[str, str] = {}  # path relative to rootdir -> text

    def add_collected(self, nodeids: Iterable[str]) -> None:
        for nodeid in nodeids:
            self.collected[module_of(nodeid)].add(file_name(nodeid))

    def mark_incomplete(self, modules: Iterable[str]) -> None:
        self.incomplete.update(modules)

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
        files whose tests no longer exist."""
        result = StoreResult()
        for path, text in sorted(self.writes.items()):
            try:
                write_atomically(self.rootdir / path, text)
                result.written.append(path)
            except OSError as error:
                result.errors.append(f"{path}: cannot write the snapshot: {error.strerror}")
        for path in self._orphans() if orphans else []:
            if not update:
                result.orphans.append(path)
                continue
            try:
                (self.rootdir / path).unlink()
                result.removed.append(path)
            except OSError as error:
                result.errors.append(
                    f"{path}: cannot remove the orphaned snapshot: {error.strerror}"
                )
        return result

    def _orphans(self) -> list[str]:
        found = []
        for module, names in sorted(self.collected.items()):
            if module in self.incomplete:
                continue
            folder = directory(self.rootdir, module)
            if folder.is_dir():
                found += [
                    relative(path, self.rootdir)
                    for path in sorted(folder.glob(f"*{SUFFIX}"))
                    if path.name not in names
                ]
        return found

    def lines(self, result: StoreResult) -> list[str]:
        lines = []
        if result.written:
            lines.append(f"dbguard: wrote {len(result.written)} plan snapshot(s):")
            lines += [f"  {path}" for path in result.written]
        if result.removed:
            lines.append(
                f"dbguard: removed {len(result.removed)} plan snapshot(s) of tests that no "
                "longer exist:"
            )
            lines += [f"  {path}" for path in result.removed]
        if result.orphans:
            lines.append(
                f"dbguard: {len(result.orphans)} plan snapshot(s) of tests that no longer exist "
                "(--dbguard-update removes them):"
            )
            lines += [f"  {path}" for path in result.orphans]
        lines += [f"dbguard: ERROR {error}" for error in result.errors]
        return lines
