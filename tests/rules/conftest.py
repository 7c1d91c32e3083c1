"""The rules' in-process tests: no database, no pytester. Inputs are the EXPLAIN plans recorded
from real servers (``recordings.py`` loads them). A test that takes ``major`` runs once per
PostgreSQL major version of the recordings, and checks every case of that version in one go
(one item per case and version would make thousands of items, whose overhead is most of a run:
a failure lists the cases that disagree instead)."""

from __future__ import annotations

import pytest
from recordings import VERSIONS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "major" in metafunc.fixturenames:
        metafunc.parametrize("major", VERSIONS, ids=[f"pg{major}" for major in VERSIONS])
