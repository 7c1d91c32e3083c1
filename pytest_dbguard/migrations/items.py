"""``--dbguard-migrations``: the checks as collected tests, one per revision file and one for
the single head, the way pytest-alembic adds its built-in tests with ``--test-alembic``.

    migrations/alembic.ini::single_head
    migrations/versions/0004_index_prompt_models.py::migration
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .. import DBGuardFailure
from .session import SessionChecks, heads
from .walks import Target, WalkError

MARKER = "dbguard_migrations: a migration check added by --dbguard-migrations"


class _CheckedFile(pytest.File):
    """A file the checks are about (a revision file, the Alembic configuration): a node for
    the items, which are not collected from it."""

    def collect(self) -> list[pytest.Item]:  # pragma: no cover - never collected by pytest
        return []


class RevisionItem(pytest.Item):
    def __init__(self, *, checks: SessionChecks, target: Target, revision: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.checks = checks
        self.target = target
        self.revision = revision
        self.add_marker("dbguard_migrations")
        if self.config.pluginmanager.hasplugin("xdist"):  # --dist loadgroup: one worker walks
            self.add_marker(pytest.mark.xdist_group("dbguard_migrations"))

    def runtest(self) -> None:
        self.checks.check(self.target, self.revision, self)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"migration {self.revision}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, DBGuardFailure):
            return str(excinfo.value.msg)
        return super().repr_failure(excinfo, style)


class SingleHeadItem(RevisionItem):
    def runtest(self) -> None:
        try:
            found = heads(self.target.config)
        except WalkError as error:
            raise DBGuardFailure(str(error)) from None
        if len(found) > 1:
            from .runner import several_heads_message

            raise DBGuardFailure(several_heads_message(found))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "single head"


def collect(session: pytest.Session, checks: SessionChecks) -> list[pytest.Item]:
    """The items, single head first, then the revisions base to head."""
    from .runner import display_path
    from .session import revisions

    try:
        target = checks.default_target()
        scripts = revisions(target.config)
    except WalkError as error:
        raise pytest.UsageError(f"--dbguard-migrations: {error}") from None
    root = str(checks.root)

    def node_id(path: str) -> str:
        return display_path(path, root, target.config)

    config_file = _CheckedFile.from_parent(
        session, path=Path(target.config), nodeid=node_id(target.config)
    )
    items: list[pytest.Item] = [
        SingleHeadItem.from_parent(
            config_file, name="single_head", checks=checks, target=target, revision=""
        )
    ]
    for script in scripts:
        parent = _CheckedFile.from_parent(
            session, path=Path(script.path), nodeid=node_id(script.path)
        )
        items.append(
            RevisionItem.from_parent(
                parent, name="migration", checks=checks, target=target, revision=script.revision
            )
        )
    for item in items:  # counted as collected, like the items pytest collects itself
        assert item.parent is not None
        report = pytest.CollectReport(item.parent.nodeid, "passed", None, [item])
        session.config.hook.pytest_collectreport(report=report)
    return items
