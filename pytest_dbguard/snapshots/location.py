"""Where a test's golden plan snapshot lives: the one place that knows.

``tests/test_orders.py::TestA::test_b[1-x]`` ->
``tests/__dbguard__/test_orders/TestA.test_b[1-x].plan``.
Characters a file name cannot hold, or that would make two test ids one file name (``[a/b]``
and ``[a_b]``, ``[std::string]`` and ``[std.string]``), are written ``%XX``, so that each test id
has a file of its own; a very long name ends with a hash of the whole id.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DIRECTORY = "__dbguard__"
SUFFIX = ".plan"
_KEPT = re.compile(r"[A-Za-z0-9_\-\[\]=,+@]")
_MAX_NAME = 150


def file_name(nodeid: str) -> str:
    path, bracket, parameters = nodeid.partition("[")  # "::" may appear in a parameter id
    parts = path.split("::")[1:]
    parts[-1] += bracket + parameters
    # "." separates the parts (class, function); a "." inside a part is escaped.
    name = ".".join("".join(_escape(char) for char in part) for part in parts)
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(nodeid.encode()).hexdigest()[:12]
        name = name[: _MAX_NAME - 20] + "-" + digest
    return name + SUFFIX


def _escape(char: str) -> str:
    if _KEPT.match(char):
        return char
    return "".join(f"%{byte:02X}" for byte in char.encode())


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def directory(rootdir: Path, module: str) -> Path:
    """The snapshot directory of a test module (``module`` relative to the rootdir)."""
    path = rootdir / module
    return path.parent / DIRECTORY / path.stem


def snapshot_path(rootdir: Path, nodeid: str) -> Path:
    return directory(rootdir, module_of(nodeid)) / file_name(nodeid)


def relative(path: Path, rootdir: Path) -> str:
    """A path as messages and reports show it: relative to the rootdir, with ``/``."""
    return os.path.relpath(path, rootdir).replace(os.sep, "/")
