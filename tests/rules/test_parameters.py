"""The capture's fast path for plain parameters gives the same key and kept copy as the general
path (the N+1 and duplicate rules compare keys across runs taken either way)."""

from __future__ import annotations

import decimal
from typing import Any

import pytest

from pytest_dbguard.capture.record import kept_parameters, parameters_key, plain_items

PLAIN = [
    {"id": 1, "name": "ann", "ratio": 0.5, "active": True, "gone": None},
    (1, 2.5, None, False, "x"),
    [3, "b"],
    {},
]
NOT_PLAIN = [
    {"blob": b"bytes"},
    {"text": "x" * 2000},
    {"amount": decimal.Decimal("1.5")},
    {"ids": [1, 2, 3]},
    {f"p{n}": n for n in range(65)},
    "a string",
    None,
]


@pytest.mark.parametrize("parameters", PLAIN)
def test_plain_parameters_give_the_general_key_and_copy(parameters: Any) -> None:
    items = plain_items(parameters)
    assert items is not None
    assert hash(("SELECT 1", items)) == parameters_key("SELECT 1", parameters)
    assert kept_parameters(parameters, False) is parameters


@pytest.mark.parametrize("parameters", NOT_PLAIN)
def test_other_parameters_take_the_general_path(parameters: Any) -> None:
    assert plain_items(parameters) is None
