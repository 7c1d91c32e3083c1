"""False alarms seen on real suites: each scenario must pass with no N+1 and no duplicate."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from corpus_helpers import scalar
from corpus_judged import Judged
from corpus_models import Author, Book, Job
from corpus_versioning import versioned
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session


def _view(session: Session, author_id: int) -> list[str]:
    """A view: one author (``session.get``, like ``db.get_or_404``) and its books."""
    author = session.get(Author, author_id)
    assert author is not None
    return [book.title for book in author.books]


def two_requests_each_its_own_session(engine: Engine) -> None:
    for _ in range(2):
        for author_id in (1, 2):
            with Session(engine) as session:  # a request: its own Session and transaction
                _view(session, author_id)


def requests_as_savepoints_in_the_test_transaction(engine: Engine) -> None:
    """The common fixture: the test runs in an outer transaction, and each request's Session
    joins it with a savepoint (rolled back at the end)."""
    with engine.connect() as conn, conn.begin():
        for author_id in (1, 2, 3, 1):
            with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                _view(session, author_id)


def requests_sharing_one_session_that_commit(engine: Engine) -> None:
    """One Session for the whole test (a FastAPI dependency override), each request commits."""
    with engine.connect() as conn, conn.begin():
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        for author_id in (1, 2, 3):
            _view(session, author_id)
            session.commit()
        session.close()


def keyset_batched_export(engine: Engine) -> None:
    with engine.connect() as conn:
        last = 0
        while True:
            query = select(Book.id, Book.title).where(Book.id > last).order_by(Book.id).limit(4)
            rows = conn.execute(query).all()
            if not rows:
                break
            last = rows[-1].id


def limit_offset_pagination(engine: Engine) -> None:
    with engine.connect() as conn:
        for page in range(5):
            conn.execute(select(Book).order_by(Book.id).limit(4).offset(4 * page)).all()


def in_list_chunks(engine: Engine) -> None:
    ids = list(range(1, AUTHORS_AND_MORE))
    with engine.connect() as conn:
        for start in range(0, len(ids), 3):
            chunk = ids[start : start + 3]
            conn.execute(select(Book).where(Book.author_id.in_(chunk))).all()


AUTHORS_AND_MORE = 12  # 11 keys: chunks of 3, 3, 3 and 2


def in_list_chunks_with_a_fixed_filter(engine: Engine) -> None:
    with engine.connect() as conn:
        for start in range(1, 10, 2):
            chunk = [start, start + 1]
            query = select(Book).where(Book.author_id.in_(chunk), Book.title != "x")
            conn.execute(query).all()


def array_chunks(engine: Engine) -> None:
    statement = text("SELECT id FROM books WHERE author_id = ANY(:ids)")
    with engine.connect() as conn:
        for chunk in ([1, 2], [3, 4], [5, 6], [7]):
            conn.execute(statement, {"ids": chunk}).all()


def selectinload_beyond_one_chunk(engine: Engine) -> None:
    """selectinload sends one IN list per 500 parents: several runs from one line."""
    from sqlalchemy.orm import selectinload

    with engine.begin() as conn:
        conn.execute(Author.__table__.insert(), [{"id": 100 + i, "name": "x"} for i in range(1100)])
    with Session(engine) as session:
        session.scalars(select(Author).options(selectinload(Author.books))).all()


def polling_a_job(engine: Engine) -> None:
    with engine.connect() as conn:
        for _ in range(4):
            conn.execute(select(Job.status).where(Job.id == 1)).scalar()
            time.sleep(0.02)


def retries_each_in_a_transaction(engine: Engine) -> None:
    for _ in range(4):
        with engine.begin() as conn:
            conn.execute(select(Job.status).where(Job.id == 1)).scalar()


def versioning_hook_once_per_request(engine: Engine) -> None:
    for number in range(3):
        with versioned(Session(engine)) as session:
            session.add(Job(id=100 + number, status="new"))
            session.commit()


def shared_repository_helper(engine: Engine) -> None:
    with engine.connect() as conn:
        scalar(conn, select(Author.name).where(Author.id == 1))
        scalar(conn, select(Author.name).where(Author.id == 2))
        scalar(conn, select(Author.name).where(Author.id == 3))


def same_query_from_different_lines(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(select(func.count()).where(Book.author_id == 1)).scalar()
        conn.execute(select(func.count()).where(Book.author_id == 2)).scalar()
        conn.execute(select(func.count()).where(Book.author_id == 3)).scalar()


def marked_units_of_work(engine: Engine, dbguard: object) -> None:
    """One Session for everything, each request marked: no boundary in the SQL itself."""
    with Session(engine) as session:
        for author_id in (1, 2, 3):
            with dbguard.unit_of_work():  # type: ignore[attr-defined]
                author = session.get(Author, author_id)
                assert author is not None
                [book.title for book in author.books]


def autocommit_connections_per_request(engine: Engine) -> None:
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    for author_id in (1, 2, 3):
        with autocommit.connect() as conn:
            conn.execute(select(Book).where(Book.author_id == author_id)).all()


QUIET = [
    two_requests_each_its_own_session,
    requests_as_savepoints_in_the_test_transaction,
    requests_sharing_one_session_that_commit,
    keyset_batched_export,
    limit_offset_pagination,
    in_list_chunks,
    in_list_chunks_with_a_fixed_filter,
    array_chunks,
    selectinload_beyond_one_chunk,
    polling_a_job,
    retries_each_in_a_transaction,
    versioning_hook_once_per_request,
    shared_repository_helper,
    same_query_from_different_lines,
    marked_units_of_work,
    autocommit_connections_per_request,
]


@pytest.mark.parametrize("scenario", QUIET, ids=[scenario.__name__ for scenario in QUIET])
def test_no_finding(judge: Callable[..., Judged], scenario: Callable[..., None]) -> None:
    judged = judge(scenario, library_modules=("corpus_versioning",))
    assert judged.all == [], judged.text()
