"""The fixture of the migration checks' pytester sessions: a small Alembic project."""

from __future__ import annotations

import pytest
from _alembic_project import ALEMBIC_INI, DOWNGRADES, ENV_PY, REVISIONS, write_revision


@pytest.fixture
def project(pytester: pytest.Pytester, pg_db: str) -> pytest.Pytester:  # noqa: ARG001 (pg_db: the inner runs' database)
    """A pytester directory with migrations/alembic.ini, env.py and versions/ 0001-0003; the
    inner sessions' server is DBGUARD_INNER_URL (a fresh database of the test server)."""
    versions = pytester.path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (pytester.path / "migrations" / "alembic.ini").write_text(ALEMBIC_INI)
    (pytester.path / "migrations" / "env.py").write_text(ENV_PY)
    down = None
    for revision, upgrade in REVISIONS.items():
        write_revision(pytester, revision, down, upgrade, DOWNGRADES[revision])
        down = revision
    return pytester
