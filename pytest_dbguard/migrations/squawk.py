"""squawk's static rules on the SQL Alembic writes in offline mode (``alembic upgrade A:B
--sql``), when the ``squawk`` executable is installed (``pip install squawk-cli``).

Each statement Alembic writes is traced to the line of the revision file that sent it, so a
squawk finding names the same file and line as the observed ones. The observed checks never
need squawk; its rules add what reading the SQL can tell (``prefer-robust-stmts``, ...).
Runs in the child process (``runner.py``); the results are plain data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from .observe import first_line

# Statements whose text is schema, shown in findings; others (INSERT ... VALUES written with
# literal values in offline mode) are not, as they may hold data.
_SCHEMA_STATEMENT = re.compile(r"^\s*(CREATE|ALTER|DROP|COMMENT|SET|RESET|REINDEX|VACUUM)\b", re.I)


def executable() -> str | None:
    """squawk on the PATH, or installed beside this Python (``pip install squawk-cli`` in a
    virtual environment that is not activated)."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return shutil.which("squawk", path=path)


class _SiteBuffer:
    """Alembic's offline output: each write is one statement, kept with the line of the
    revision file it came from (None for Alembic's own BEGIN and version table updates)."""

    def __init__(self, revision_path: str) -> None:
        self.revision_path = os.path.realpath(revision_path)
        self.chunks: list[tuple[str, int | None]] = []

    def write(self, text: str) -> int:
        self.chunks.append((text, self._line()))
        return len(text)

    def flush(self) -> None:
        pass

    def _line(self) -> int | None:
        frame = sys._getframe(1)  # noqa: SLF001 (CPython's documented fast frame access)
        while frame is not None:
            if os.path.realpath(frame.f_code.co_filename) == self.revision_path:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return None


def offline_statements(config_path: str, url: str, revision: Any) -> list[tuple[str, int | None]]:
    """The SQL of one revision's upgrade in offline mode, statement by statement."""
    from alembic import command
    from alembic.config import Config

    buffer = _SiteBuffer(revision.path)
    if config_path.endswith(".toml"):
        config = Config(toml_file=config_path, output_buffer=buffer)  # type: ignore[arg-type]
    else:
        config = Config(config_path, output_buffer=buffer)  # type: ignore[arg-type]
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    down = revision.down_revision
    target = revision.revision if down is None else f"{down}:{revision.revision}"
    command.upgrade(config, target, sql=True)
    return buffer.chunks


def check_revision(
    executable: str,
    config_path: str,
    url: str,
    revision: Any,
    display_file: str,
    server_version: int,
) -> dict[str, Any] | None:
    """squawk's findings on one revision's offline SQL; None when squawk is not used."""
    if not executable:
        return None
    if isinstance(revision.down_revision, tuple):
        return {"skipped": "a merge revision has no single offline range", "findings": []}
    try:
        chunks = offline_statements(config_path, url, revision)
    except Exception as error:  # noqa: BLE001 (a user's revision or env.py may raise anything)
        return {"skipped": f"offline SQL failed: {first_line(error)}", "findings": []}
    try:
        findings = run(executable, chunks, display_file, server_version)
    except (OSError, RuntimeError) as error:
        return {"skipped": str(error), "findings": []}
    return {"skipped": None, "findings": findings}


def run(
    executable: str,
    chunks: list[tuple[str, int | None]],
    display_file: str,
    server_version: int,
) -> list[dict[str, Any]]:
    """Run squawk on the statements; its findings on the revision's own statements."""
    starts = []
    lines = 0
    for text, _ in chunks:
        starts.append(lines)
        lines += text.count("\n")
    with tempfile.TemporaryDirectory(prefix="dbguard-squawk-") as directory:
        path = os.path.join(directory, "revision.sql")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("".join(text for text, _ in chunks))
        completed = subprocess.run(
            [
                executable,
                "--reporter",
                "json",
                f"--pg-version={server_version // 10000}.0",
                path,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        reported = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(
            f"squawk failed: {(completed.stderr or completed.stdout).strip()[:200]}"
        ) from None
    findings = []
    for item in reported:
        index = max(i for i, start in enumerate(starts) if start <= item["line"])
        text, line = chunks[index]
        if line is None:
            continue  # Alembic's own statements
        sql = text.strip()
        findings.append(
            {
                "rule": item["rule_name"],
                "message": item["message"],
                "help": item.get("help") or "",
                "site": {"file": display_file, "line": line},
                "sql": sql if _SCHEMA_STATEMENT.match(sql) else "(a data statement)",
            }
        )
    return findings
