"""The throwaway PostgreSQL of testing/dbguard_pg.py leaves nothing behind."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbguard_pg import URL_VARIABLE

TESTING = Path(__file__).parent.parent / "testing"


@pytest.fixture
def private_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A TMPDIR of the test's own, so that what other runs on the machine leave in /tmp cannot
    be mistaken for ours. Short, under /tmp: the server's socket path must fit in 107 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="dbguard-tmp-"))
    monkeypatch.setenv("TMPDIR", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_the_embedded_server_removes_everything_it_created(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, private_tmpdir: Path
) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)  # so the inner run starts a server
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)  # the lock file then went to TMPDIR
    monkeypatch.setenv("PYTHONPATH", str(TESTING))
    pytester.makepyfile(
        test_server="""
        import os
        from pathlib import Path

        import psycopg

        def test_a_server_of_its_own_in_tmpdir():
            url = os.environ["DBGUARD_TEST_DATABASE_URL"]
            with psycopg.connect(url) as conn:
                version = conn.execute("SHOW server_version_num").fetchone()[0]
            assert int(version) >= 180000
            created = list(Path(os.environ["TMPDIR"]).glob("dbguard-pg-*"))
            assert len(created) == 1, created
            print("created:", created[0].name)
        """
    )
    result = pytester.runpytest_subprocess("-p", "dbguard_pg", "-p", "no:dbguard", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*created: dbguard-pg-*"])
    assert sorted(private_tmpdir.iterdir()) == []
