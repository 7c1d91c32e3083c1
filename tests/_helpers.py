"""Helpers shared by the tests of several files."""

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


# An application module with one finding of each kind the reports show: a filter no index
# serves (users.status), an N+1 (emails) and a lookup a plan snapshot records (titles_of).
APP_QUERIES = """
from sqlalchemy import text


def users_with_status(conn, status):
    return conn.execute(text("SELECT id FROM users WHERE status = :s"), {"s": status}).all()


def titles_of(conn, user):
    return conn.execute(text("SELECT title FROM items WHERE user_id = :u"), {"u": user}).all()


def emails(conn, ids):
    return [
        conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": u}).scalar()
        for u in ids
    ]
"""
