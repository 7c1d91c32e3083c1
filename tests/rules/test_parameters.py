"""The capture's fast path for plain parameters gives the same key and kept copy as the general
path (the N+1 and duplicate rules compare keys across runs taken either way)."""

from __future__ import annotations

import decimal
from typing import Any

import pytest

from pytest_dbguard.capture.record import (
    kept_parameters,
    list_slots,
    parameters_key,
    plain_items,
)

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


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("SELECT * FROM t WHERE a = :a AND id IN (:id_1, :id_2)", {"id_1", "id_2"}),
        ("SELECT * FROM t WHERE a = %(a)s AND id IN (%(id_1)s, %(id_2)s)", {"id_1", "id_2"}),
        ("SELECT * FROM t WHERE a = %s AND id IN (%s, %s)", {1, 2}),
        ("SELECT * FROM t WHERE a = $1 AND id IN ($2, $3)", {1, 2}),
        # a placeholder-like character inside a literal or a comment fills no slot
        ("SELECT * FROM t WHERE note = 'why?' AND id IN (?, ?)", {0, 1}),
        ("SELECT * FROM t /* :a? */ WHERE a = ? AND id IN (?, ?)", {1, 2}),
        ("SELECT * FROM t WHERE a = ?", set()),
    ],
)
def test_the_parameters_inside_in_lists(text: str, slots: set[str | int]) -> None:
    assert list_slots(text) == slots
