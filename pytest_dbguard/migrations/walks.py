"""The test process's side: runs the runner (``runner.py``) in a child process, once per
Alembic configuration and server in a session, and turns its observations into findings.

The child gets the test process's ``sys.path`` (env.py imports the project's models the way
the tests import them) and its working directory is the Alembic configuration's directory (as
when ``alembic`` is run by hand). The database URL reaches it on stdin, never on a command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import rules
from .options import MigrationSettings
from .rules import MigrationFinding


@dataclass(frozen=True)
class Target:
    """What is checked: an Alembic configuration, on a server, with the project's seed rows."""

    config: str  # absolute path of alembic.ini or pyproject.toml
    url: str
    seed: str = ""
    url_env: str = ""


class WalkError(Exception):
    """The checks could not run: a message for the user (no traceback of the plugin's)."""


@dataclass
class Walk:
    revisions: list[dict[str, Any]]
    server_version: int
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {entry["revision"]: entry for entry in self.revisions}

    def entry(self, revision: str) -> dict[str, Any]:
        try:
            return self.by_id[revision]
        except KeyError:
            known = ", ".join(self.by_id) or "none"
            raise WalkError(
                f"no revision {revision!r} in the migration history (revisions: {known})"
            ) from None


def run(target: Target, root: Path, squawk: str) -> Walk:
    """Walk the whole history in a child process; a WalkError if it could not."""
    request = {
        "config": target.config,
        "url": target.url,
        "root": str(root),
        "seed": target.seed,
        "url_env": target.url_env,
        "squawk": squawk,
        "owner": os.getpid(),  # in the database's name
    }
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        entry for entry in sys.path if entry and os.path.isdir(entry)
    )
    with tempfile.TemporaryDirectory(prefix="dbguard-migrations-") as directory:
        result_path = Path(directory, "result.json")
        completed = subprocess.run(
            [sys.executable, "-m", "pytest_dbguard.migrations.runner", str(result_path)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=Path(target.config).parent,
            env=environment,
            check=False,
        )
        if not result_path.exists():
            output = _without(target.url, (completed.stderr or completed.stdout).strip())
            raise WalkError(
                f"the migration checks stopped (exit status {completed.returncode}):\n"
                + "\n".join(output.splitlines()[-15:])
            )
        result = json.loads(result_path.read_text(encoding="utf-8"))
    error = result.get("error")
    if error:
        message = error["message"]
        if error["kind"] == "internal":
            message = f"pytest-dbguard failed (a bug, please report it): {message}\n" + error.get(
                "traceback", ""
            )
        raise WalkError(_without(target.url, message))
    return Walk(result["revisions"], result["server_version"])


def _without(url: str, text: str) -> str:
    """Never a password in a message (a driver may print the URL it was given)."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 (a URL make_url cannot read: nothing to mask)
        return text
    return text.replace(str(password), "***") if password else text


def findings(walk: Walk, revision: str, settings: MigrationSettings) -> list[MigrationFinding]:
    """One revision's findings, with the verdicts the settings give, without those waived by a
    ``# dbguard: allow <rule>`` comment in the revision file."""
    entry = walk.entry(revision)
    source = _source(entry)
    found = rules.round_trip_findings(entry, source)
    if settings.safety != "off" and _after_start(walk, revision, settings.start_after):
        found += rules.safety_findings(entry, settings.safety)
    if settings.squawk != "off":
        found += rules.squawk_findings(entry, settings.squawk)
    lines = source.splitlines()
    return [
        finding
        for finding in found
        if not {finding.rule, finding.rule.removeprefix("squawk:")}
        & rules.allowed(lines, finding.line)
    ]


def _source(entry: dict[str, Any]) -> str:
    try:
        return Path(entry["path"]).read_text(encoding="utf-8")
    except (KeyError, OSError, UnicodeDecodeError):
        return ""


def _after_start(walk: Walk, revision: str, start_after: str) -> bool:
    if not start_after:
        return True
    order = [entry["revision"] for entry in walk.revisions]
    if start_after not in order:
        raise WalkError(
            f"--dbguard-migrations-start-after / ini dbguard_migrations_start_after: no revision "
            f"{start_after!r} in the migration history"
        )
    return order.index(revision) > order.index(start_after)


def failure_message(revision: str, file: str, failing: list[MigrationFinding]) -> str:
    if len(failing) == 1:
        return failing[0].message()
    parts = [f"Revision {revision} ({file}): {len(failing)} findings"]
    for number, finding in enumerate(failing, start=1):
        body = finding.message().replace("\n", "\n   ")
        parts.append(f"\n{number}. {body}")
    return "\n".join(parts)
