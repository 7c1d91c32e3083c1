"""``capture/fingerprint.py`` in-process: the defects of issue 10 item 19 (an escape string
``E'it\\'s'``, positional ``ORDER BY 1`` / ``GROUP BY 2``, an unclosed ``$tag$`` in linear time)
and ``is_single_statement``, which decides whether a statement text may be EXPLAINed at all."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from recordings import VERSIONS, recording

from pytest_dbguard.capture.fingerprint import fingerprint, is_single_statement


def test_an_escape_string_is_one_literal() -> None:
    """``E'it\\'s'``: the backslash escapes the quote; read as a standard string the literal
    would end at the escaped quote and swallow the rest of the statement."""
    assert fingerprint("SELECT E'it\\'s' AS quote, id FROM t WHERE id = 1") == (
        "SELECT ? AS quote, id FROM t WHERE id = ?"
    )
    assert fingerprint("SELECT e'it\\'s' FROM t WHERE a = 'b'") == "SELECT ? FROM t WHERE a = ?"
    assert fingerprint("SELECT E'a\\\\' AS x, 'b' FROM t WHERE c = 'd'") == (
        "SELECT ? AS x, ? FROM t WHERE c = ?"
    )
    # In a standard string a backslash is an ordinary character.
    assert fingerprint("SELECT 'C:\\' AS path, id FROM t WHERE id = 2") == (
        "SELECT ? AS path, id FROM t WHERE id = ?"
    )


def test_positional_references_are_part_of_the_shape() -> None:
    shapes = [
        fingerprint("SELECT a, b FROM t ORDER BY 1"),
        fingerprint("SELECT a, b FROM t ORDER BY 2"),
        fingerprint("SELECT a, count(*) FROM t GROUP BY 1"),
        fingerprint("SELECT a, b, count(*) FROM t GROUP BY 1, 2"),
    ]
    assert shapes == [
        "SELECT a, b FROM t ORDER BY 1",
        "SELECT a, b FROM t ORDER BY 2",
        "SELECT a, count(*) FROM t GROUP BY 1",
        "SELECT a, b, count(*) FROM t GROUP BY 1, 2",
    ]
    assert fingerprint("select a from t order by 2 desc nulls last, 1 limit 10 offset 5") == (
        "select a from t order by 2 desc nulls last, 1 limit ? offset ?"
    )
    assert fingerprint("SELECT a FROM t GROUP BY 1 HAVING count(*) > 3 ORDER BY 1") == (
        "SELECT a FROM t GROUP BY 1 HAVING count(*) > ? ORDER BY 1"
    )
    assert fingerprint("SELECT a FROM t ORDER BY a + 1") == "SELECT a FROM t ORDER BY a + ?"


def test_the_recorded_statements_keep_their_shape() -> None:
    """The corpus's statements: ``$n`` placeholders become ``?``, literals too, the rest stays."""
    assert fingerprint(recording("queue_skip_locked", 18).data["statement"]) == (
        "SELECT jobs.id, jobs.payload FROM jobs WHERE jobs.state = ? AND jobs.queue = ? "
        "ORDER BY jobs.id LIMIT ? FOR UPDATE SKIP LOCKED"
    )
    assert fingerprint(recording("selectinload_in_unindexed", 18).data["statement"]) == (
        "SELECT comments.post_id, comments.id, comments.body FROM comments "
        "WHERE comments.post_id IN (...)"
    )
    assert fingerprint(recording("now_interval_range", 18).data["statement"]) == (
        "SELECT posts.id FROM posts WHERE posts.created_at > now() - ?::interval"
    )
    for major in VERSIONS:
        text = recording("unicode_column", major).data["statement"]
        assert fingerprint(text) == 'SELECT kunden.id FROM kunden WHERE kunden."straße" = ?'


def _seconds(function: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best


UNCLOSED: dict[str, Callable[[int], str]] = {
    "tags after a word": lambda n: "SELECT 1 WHERE 'a' = " + " ".join(f"x$t{k}$" for k in range(n)),
    "tags alone": lambda n: "SELECT 1 WHERE 'a' = " + " ".join(f"$t{k}$" for k in range(n)),
    "empty tags": lambda n: "SELECT " + " ".join("$$" if k == 0 else f"'{k}" for k in range(n)),
    "an escape string": lambda n: "SELECT E'" + " ".join(f"\\'{k}" for k in range(n)),
    "a comment": lambda n: "SELECT " + " ".join(f"/* {k}" for k in range(n)),
}


@pytest.mark.parametrize("shape", list(UNCLOSED))
def test_unclosed_openings_cost_linear_time(shape: str) -> None:
    """Fingerprinting runs on every new statement text: 10 times the text may cost about 10
    times the time (up to 50 on a busy machine), never the 100 of a quadratic scan (a ratio of
    two sizes measured in one process, each the best of five runs: not a duration). The sizes
    stay under 100 KB, past which the regular expression engine's own memory makes even a
    linear scan grow faster."""
    make = UNCLOSED[shape]
    small, large = make(1000), make(10000)
    for function in (fingerprint, is_single_statement):
        ratio = _seconds(function, large) / max(_seconds(function, small), 1e-6)
        assert ratio < 50, (shape, function.__name__, ratio)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1",
        "SELECT 1;",
        "SELECT 1;;",
        "SELECT 1; \n\t",
        "SELECT 1; -- done",
        "SELECT 1; /* c */ ;",
        "SELECT ';'",
        'SELECT ";" FROM t',
        "SELECT $$;$$",
        "SELECT $a$ ; $a$",
        "SELECT /* ; */ 1",
        "SELECT E'\\';'",
        "SELECT 'it''s;'",
    ],
)
def test_one_statement(text: str) -> None:
    assert is_single_statement(text)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1 -- ;\n; SELECT 2",
        "SELECT E'\\';' ; DROP TABLE x",
        "SELECT '\\'; DROP TABLE x; --'",  # a backslash ends nothing in a standard string
        "SELECT 'it''s;' ; SELECT 2",
        "SELECT e'\\\\'; SELECT 2",
        "SELECT $a$;$a$; SELECT 2",
        "UPDATE t SET a = 1; UPDATE t SET b = 2",
    ],
)
def test_several_statements(text: str) -> None:
    assert not is_single_statement(text)


def test_a_dollar_inside_an_identifier_opens_no_quote() -> None:
    text = "SELECT x$a$ FROM t; DROP TABLE t; SELECT $a$"
    assert not is_single_statement(text)
    assert (
        fingerprint("SELECT x$a$, id FROM t WHERE id = 1") == "SELECT x$a$, id FROM t WHERE id = ?"
    )
