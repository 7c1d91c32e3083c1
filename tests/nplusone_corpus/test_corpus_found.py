"""True N+1 patterns that the corpus's quiet cases must not hide, with their exact messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from corpus_helpers import book_count, scalar
from corpus_judged import Judged
from corpus_models import Author, Book
from corpus_versioning import versioned
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

JudgeRun = Callable[..., Judged]
_SOURCE = Path(__file__).read_text().splitlines()


def _line(marker: str) -> int:
    """The line of this file that ends with the comment ``# <marker>``."""
    return next(n for n, text in enumerate(_SOURCE, 1) if text.endswith(f"  # {marker}"))


def _only(findings: list) -> str:  # type: ignore[type-arg]
    assert len(findings) == 1, "\n\n".join(finding.message for finding in findings)
    return str(findings[0].message)


def test_core_select_per_row_counts_its_own_line_only(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for author_id in range(1, 6):
                conn.execute(select(Book.title).where(Book.author_id == author_id)).all()  # own
            conn.execute(select(Book.title).where(Book.author_id == 6)).all()
            conn.execute(select(Book.title).where(Book.author_id == 7)).all()

    message = _only(judge(scenario).nplusone)
    assert message.startswith(
        "N+1 query: the same SELECT ran 5 times from one call site with different parameters"
    )  # 5 from the loop's line, not 7 with the two lines below it
    assert "SELECT books.title FROM books WHERE books.author_id = " in message
    assert f"  at test_corpus_found.py:{_line('own')} in " in message


def test_counts_after_sampling_stopped_say_at_least(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for author_id in range(40):
                conn.execute(select(Book.title).where(Book.author_id == author_id)).all()

    message = _only(judge(scenario).nplusone)
    assert "ran at least 16 times from one call site" in message
    assert "(call sites are recorded for the first 16 of its 40 runs in this test)" in message


def test_lazy_load_per_row_names_its_own_sql(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with Session(engine) as session:
            session.scalars(select(Book).limit(1)).all()
            for author in session.scalars(select(Author)):
                author.books  # noqa: B018

    message = _only(judge(scenario).nplusone)
    assert message.splitlines()[0] == (
        "N+1 query: Author.books was lazy-loaded for 6 Author objects, one query each"
    )
    assert (
        "6x SELECT ... FROM books WHERE ?::INTEGER = books.author_id ORDER BY books.id" in message
    )
    assert "select(Author).options(selectinload(Author.books))" in message


def test_lazy_load_of_lazy_loaded_parents_chains_the_fix(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with Session(engine) as session:
            for author in session.scalars(select(Author)):
                for book in author.books:
                    book.reviews  # noqa: B018

    messages = judge(scenario).nplusone
    reviews = next(f.message for f in messages if "Book.reviews was lazy-loaded" in f.message)
    assert "18x SELECT ... FROM reviews WHERE ?::INTEGER = reviews.book_id" in reviews
    assert (
        "select(Author).options(selectinload(Author.books).selectinload(Book.reviews))" in reviews
    )


def test_a_helper_called_per_row_names_the_loop(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for author_id in range(1, 5):
                book_count(conn, author_id)  # helper

    lines = _only(judge(scenario).nplusone).splitlines()
    assert lines[1].startswith(f"  in the loop at test_corpus_found.py:{_line('helper')} in ")
    assert lines[2] == "  which calls corpus_helpers.py:18 in book_count"
    assert any(
        line.startswith(
            "Fix: fetch the rows for all the keys in one query before the loop at "
            f"test_corpus_found.py:{_line('helper')} "
        )
        for line in lines
    )


def test_a_shared_helper_names_the_library_modules_option(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            scalar(conn, select(Author.name).where(Author.id == 6))
            for author_id in range(1, 5):
                scalar(conn, select(Author.name).where(Author.id == author_id))  # shared

    message = _only(judge(scenario).nplusone)
    assert "ran 4 times" in message
    assert "which calls corpus_helpers.py:13 in scalar" in message
    assert "is called from 2 places" in message
    assert "ini option dbguard_library_modules (dbguard_library_modules = corpus_helpers)" in (
        message
    )
    configured = judge(scenario, library_modules=("corpus_helpers",))
    assert f"at test_corpus_found.py:{_line('shared')} in " in _only(configured.nplusone)


def test_a_library_hook_per_object_says_it_runs_inside_the_library(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with versioned(Session(engine)) as session:
            for author in session.scalars(select(Author)):
                author.name = author.name + "!"
            session.commit()

    message = _only(judge(scenario, library_modules=("corpus_versioning",)).nplusone)
    assert "The query runs inside corpus_versioning" in message
    assert "before the loop" not in message


def test_per_row_query_with_a_limit_is_still_nplusone(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for author_id in range(1, 5):
                query = select(Book).where(Book.author_id == author_id).order_by(Book.id)
                conn.execute(query.limit(2)).all()  # the top 2 of each author: one per row

    assert "ran 4 times" in _only(judge(scenario).nplusone)


def test_per_row_query_with_a_fixed_in_list_is_still_nplusone(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for author_id in range(1, 5):
                query = select(Book).where(Book.author_id == author_id, Book.id.in_([11, 12]))
                conn.execute(query).all()

    assert "ran 4 times" in _only(judge(scenario).nplusone)


def test_savepoint_per_row_does_not_hide_the_loop_around_it(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn, conn.begin():
            for author_id in range(1, 5):
                conn.execute(select(Book).where(Book.author_id == author_id)).all()
                with conn.begin_nested():
                    conn.execute(select(Author).where(Author.id == author_id)).all()

    # the statement outside the savepoints is one unit; each savepoint is a unit of its own
    assert "ran 4 times" in _only(judge(scenario).nplusone)


def test_a_marked_unit_spans_sessions(judge: JudgeRun) -> None:
    def per_row_sessions(engine: Engine) -> None:
        for author_id in range(1, 5):
            with Session(engine) as session:
                session.execute(select(Book).where(Book.author_id == author_id)).all()

    def marked(engine: Engine, dbguard: object) -> None:
        with dbguard.unit_of_work():  # type: ignore[attr-defined]
            per_row_sessions(engine)

    assert judge(per_row_sessions).nplusone == []  # a Session per row: units of one run each
    assert "ran 4 times" in _only(judge(marked).nplusone)


def test_autocommit_connection_is_one_unit_until_it_commits(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            for author_id in range(1, 5):
                conn.execute(select(Book).where(Book.author_id == author_id)).all()

    assert "ran 4 times" in _only(judge(scenario).nplusone)


def test_identical_runs_in_one_transaction_are_duplicates(judge: JudgeRun) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for _ in range(4):
                conn.execute(select(Author).where(Author.id == 1)).all()

    judged = judge(scenario)
    assert judged.nplusone == []
    assert _only(judged.duplicates).startswith(
        "Duplicate queries: the same statement with the same parameters ran 4 times in one "
        "unit of work"
    )


@pytest.mark.parametrize("threshold", [3, 5])
def test_threshold_sets_both_limits(judge: JudgeRun, threshold: int) -> None:
    def scenario(engine: Engine) -> None:
        with engine.connect() as conn:
            for author_id in (1, 2, 3, 4):
                conn.execute(select(Book).where(Book.author_id == author_id)).all()
                conn.execute(select(Author).where(Author.id == 1)).all()

    judged = judge(scenario, threshold=threshold)
    assert len(judged.nplusone) == len(judged.duplicates) == (1 if threshold == 3 else 0)
