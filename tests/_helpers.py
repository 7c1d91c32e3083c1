"""Helpers shared by the plan-snapshot tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


def snapshot_files(root: Path) -> dict[str, bytes]:
    """Every plan snapshot under ``root``, by path relative to it."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "__dbguard__").rglob("*.plan"))
    }


def break_fsync(pytester: pytest.Pytester, body: str) -> str:
    """Make the inner session's file writes call ``body`` (the code of a function of
    ``descriptor``) instead of the standard library's os.fsync; returns the conftest as it
    was, to restore it."""
    conftest = pytester.path / "conftest.py"
    original = conftest.read_text()
    conftest.write_text(
        original
        + "\n\nimport os\n\n_real_fsync = os.fsync\n\n\n"
        + "def _fsync(descriptor):\n"
        + textwrap.indent(
            textwrap.dedent(body).strip().replace("os.fsync(", "_real_fsync("), "    "
        )
        + "\n\n\nos.fsync = _fsync\n\n\n"
        # pytester runs the session in this process: put the real os.fsync back at its end
        + "def pytest_unconfigure(config):\n    os.fsync = _real_fsync\n"
    )
    return original
