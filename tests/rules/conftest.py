"""The rules' in-process tests: no database, no pytester. Inputs are the EXPLAIN plans recorded
from real servers (``recordings.py`` loads them).

A test that takes ``rec`` runs once per recording (ids ``pg15/<case>``), one that takes
``major`` once per PostgreSQL major version. ``@pytest.mark.xfail_cases({case: reason})`` marks
the named cases of a ``rec`` test as strict expected failures: known rule defects, each with its
reason, which fail the run once fixed (so that the expectation is moved back)."""

from __future__ import annotations

import pytest
from recordings import VERSIONS, all_recordings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "xfail_cases(reasons): strict xfail for these cases of a rec-parametrized test"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rec" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("xfail_cases")
        reasons: dict[str, str] = marker.args[0] if marker else {}
        metafunc.parametrize(
            "rec",
            [
                pytest.param(
                    rec,
                    id=rec.id,
                    marks=[pytest.mark.xfail(strict=True, reason=reasons[rec.case])]
                    if rec.case in reasons
                    else [],
                )
                for rec in all_recordings()
            ],
        )
    if "major" in metafunc.fixturenames:
        metafunc.parametrize("major", VERSIONS, ids=[f"pg{major}" for major in VERSIONS])
