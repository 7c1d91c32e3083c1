"""How the plugin loads: without greenlet (SQLAlchemy 2.1 no longer installs it, and its
asyncio extension cannot be imported without it: a user without async code does not install
the `asyncio` extra), and without a warning of pytest's (a suite that runs with `-W error`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCK_GREENLET = textwrap.dedent(
    """
    import builtins, sys

    real_import = builtins.__import__

    def without_greenlet(name, *args, **kwargs):
        if name == "greenlet" or name.startswith("greenlet."):
            raise ImportError("greenlet is not installed (blocked by the test)")
        return real_import(name, *args, **kwargs)

    builtins.__import__ = without_greenlet
    import pytest
    sys.exit(pytest.main(sys.argv[1:]))
    """
)


def test_the_plugin_loads_and_checks_without_greenlet(tmp_path: Path) -> None:
    (tmp_path / "test_sync.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from sqlalchemy import create_engine, text

            @pytest.mark.max_queries(1)
            def test_over_budget():
                engine = create_engine("sqlite://")
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                    conn.execute(text("SELECT 2"))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_GREENLET, "-p", "dbguard", "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert "Error while loading plugin" not in output, output
    assert "Expected at most 1 query, 2 were run" in output, output
    assert result.returncode == 1, output


def test_the_plugin_loads_without_a_warning(pytester: pytest.Pytester) -> None:
    """Each module pytest loads as a plugin (``pytest_plugins``) is imported by pytest first:
    otherwise pytest warns that it cannot rewrite the module's asserts. In a process of its
    own: this one imported the plugin already."""
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*Warning*")
