"""Where the plugin keeps its state: pytest's stashes, under these keys (never module
globals). Shared by the wiring (``plugin.py``) and the fixture (``fixtures.py``)."""

from __future__ import annotations

import pytest

from ..capture.eager import EagerLoad
from ..capture.listeners import Capture
from ..capture.record import Record
from ..findings import Finding
from ..markers import TestSpec
from ..options import Settings
from .examine import Examiner
from .judge import TestOutcome

SETTINGS = pytest.StashKey[Settings]()
CAPTURE = pytest.StashKey[Capture]()
EXAMINER = pytest.StashKey[Examiner]()
SPEC = pytest.StashKey[TestSpec]()
SPEC_ERROR = pytest.StashKey[str]()  # a marker's usage error, raised when the test runs
RECORD = pytest.StashKey[Record]()
OUTCOME = pytest.StashKey[TestOutcome]()
SCHEMA_CHECKED = pytest.StashKey[bool]()
BLOCK_FINDINGS = pytest.StashKey[list[Finding]]()  # budgets of failed `dbguard` blocks
EAGER_LOADS = pytest.StashKey[list[EagerLoad]]()  # the eager loads of a test's call
