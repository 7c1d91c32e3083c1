"""What a failed check raises, and what a finding in ``warn`` mode warns with."""

from __future__ import annotations

import pytest


class DBGuardWarning(UserWarning):
    """A finding whose mode is ``warn`` (shown in pytest's warnings summary)."""


class DBGuardFailure(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """A test failed a pytest-dbguard check: ``xfail(raises=DBGuardFailure)`` expects one.

    It is the exception ``pytest.fail()`` raises, so pytest reports its message without a
    traceback of the plugin's code."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


DBGuardFailure.__module__ = "pytest_dbguard"  # where users import it from
