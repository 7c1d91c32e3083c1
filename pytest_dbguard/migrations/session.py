"""The migration checks of one pytest session: walks cached by target, verdicts, and the
fixture's API. State lives in ``config.stash`` and ``item.stash``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .. import DBGuardFailure, DBGuardWarning
from . import walks
from .options import MigrationSettings, expand_url, where
from .rules import MigrationFinding
from .walks import Target, Walk, WalkError

FOUND = pytest.StashKey[list[MigrationFinding]]()  # on an item: the findings of its checks


@dataclass
class SessionChecks:
    settings: MigrationSettings
    root: Path
    disabled: bool = False  # --dbguard-disable: every check off, the fixture skips
    walks: dict[Target, Walk | WalkError] = field(default_factory=dict)

    def target(self, config_path: str | Path, url: str, seed: str, url_env: str) -> Target:
        path = Path(config_path)
        if not path.is_absolute():
            path = self.root / path
        if not url:
            raise WalkError(
                "the migration checks need a PostgreSQL server to create a fresh database on: "
                f"set {where('migrations_url')} (a SQLAlchemy URL, or $VARIABLE), or override "
                "the dbguard_migrations_url fixture"
            )
        return Target(str(path), url, seed, url_env)

    def default_target(self) -> Target:
        settings = self.settings
        return self.target(
            settings.alembic_config, expand_url(settings.url), settings.seed, settings.url_env
        )

    def walk(self, target: Target) -> Walk:
        """The whole history walked once per session (per pytest-xdist worker)."""
        if target not in self.walks:
            try:
                self.walks[target] = walks.run(target, self.root, self.settings.squawk_executable)
            except WalkError as error:
                self.walks[target] = error
        walk = self.walks[target]
        if isinstance(walk, WalkError):
            raise walk
        return walk

    def check(self, target: Target, revision: str, node: pytest.Item) -> list[MigrationFinding]:
        """One revision's verdict: fails with every failing finding (DBGuardFailure, what
        pytest.fail raises), warns for the others; a revision that could not be checked is
        skipped with the reason."""
        try:
            walk = self.walk(target)
            entry = walk.entry(revision)
            if entry.get("not_checked"):
                pytest.skip(f"revision {revision} not checked: {entry['not_checked']}")
            found = walks.findings(walk, revision, self.settings)
        except WalkError as error:
            raise DBGuardFailure(str(error)) from None
        node.stash.setdefault(FOUND, []).extend(found)
        if entry.get("seed_notes"):  # the check was weaker than it says: tell why
            warnings.warn_explicit(
                DBGuardWarning(
                    f"revision {revision}: checked with tables left empty, so findings that "
                    "need rows may be missing:\n  " + "\n  ".join(entry["seed_notes"])
                ),
                DBGuardWarning,
                entry["file"],
                1,
            )
        for finding in found:
            if finding.verdict == "warn":
                warnings.warn_explicit(
                    DBGuardWarning(finding.message()),
                    DBGuardWarning,
                    finding.file,
                    finding.line or 1,
                )
        failing = [finding for finding in found if finding.verdict == "fail"]
        if failing:
            raise DBGuardFailure(walks.failure_message(revision, entry["file"], failing))
        return found


def heads(config_path: str) -> list[str]:
    """The history's heads, read in the test process (no database)."""
    from .runner import SetupError, alembic_config, script_directory

    try:
        return list(script_directory(alembic_config(config_path, None, None)).get_heads())
    except SetupError as error:
        raise WalkError(str(error)) from None


def revisions(config_path: str) -> list[Any]:
    """The revisions base to head (Alembic's Script objects), read in the test process."""
    from .runner import SetupError, alembic_config, script_directory

    try:
        script = script_directory(alembic_config(config_path, None, None))
        return list(reversed(list(script.walk_revisions())))
    except SetupError as error:
        raise WalkError(str(error)) from None


class DBGuardMigrations:
    """The ``dbguard_migrations`` fixture: the migration checks, revision by revision, from a
    test of your own (the checks of ``--dbguard-migrations``, where you want them)."""

    def __init__(self, checks: SessionChecks, target: Target, node: pytest.Item) -> None:
        self._checks = checks
        self._target = target
        self._node = node

    @property
    def revisions(self) -> list[str]:
        """The revision ids, base to head."""
        return [script.revision for script in revisions(self._target.config)]

    def check(self, revision: str) -> list[MigrationFinding]:
        """Fail (``DBGuardFailure``) with the revision's failing findings: its upgrade on a
        database holding rows, what each of its statements locked and rewrote, its downgrade
        and the schema it gives back, its second upgrade. Returns the findings that only warn."""
        return self._checks.check(self._target, revision, self._node)

    def check_history(self) -> list[MigrationFinding]:
        """``check`` every revision and the single head; one failure naming all findings."""
        self.check_single_head()
        messages, found = [], []
        for revision in self.revisions:
            try:
                found += self.check(revision)
            except DBGuardFailure as failure:
                messages.append(str(failure.msg))
        if messages:
            raise DBGuardFailure("\n\n".join(messages))
        return found

    def check_single_head(self) -> None:
        try:
            found = heads(self._target.config)
        except WalkError as error:
            raise DBGuardFailure(str(error)) from None
        if len(found) > 1:
            from .runner import several_heads_message

            raise DBGuardFailure(several_heads_message(found))

    def findings(self, revision: str) -> list[MigrationFinding]:
        """A revision's findings, failing or not, without failing the test."""
        try:
            return walks.findings(self._checks.walk(self._target), revision, self._checks.settings)
        except WalkError as error:
            raise DBGuardFailure(str(error)) from None
