"""The N+1 corpus: real scenarios (requests, batched exports, polls, a versioning hook, shared
helpers) run in-process against PostgreSQL with the plugin's capture, then judged by the N+1
and duplicate rules directly (no pytester session: each case costs a few statements)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from corpus_judged import Judged
from corpus_models import Author, Base, Book, Job, Review
from sqlalchemy import Engine, create_engine, insert

from pytest_dbguard.capture.callsites import CallSiteFinder
from pytest_dbguard.capture.listeners import Capture
from pytest_dbguard.capture.record import Record
from pytest_dbguard.findings import Mode
from pytest_dbguard.fixtures import DBGuard
from pytest_dbguard.options import Settings
from pytest_dbguard.rules.nplusone import find_duplicates, find_nplusone

CORPUS = Path(__file__).parent


AUTHORS = 6


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Author), [{"id": i, "name": f"a{i}"} for i in range(1, AUTHORS + 1)])
        conn.execute(
            insert(Book),
            [
                {"id": 10 * a + n, "author_id": a, "title": f"b{a}.{n}"}
                for a in range(1, AUTHORS + 1)
                for n in range(3)
            ],
        )
        conn.execute(
            insert(Review),
            [{"book_id": 10 * a + n, "stars": 5} for a in range(1, AUTHORS + 1) for n in range(3)],
        )
        conn.execute(insert(Job), [{"id": 1, "status": "running"}])
    yield engine
    engine.dispose()


Scenario = Callable[..., Any]


@pytest.fixture
def judge(engine: Engine) -> Callable[..., Judged]:
    """Run ``scenario(engine)`` (or ``scenario(engine, dbguard)`` when it asks for the fixture)
    under the plugin's capture, and judge what it ran."""

    def run(
        scenario: Scenario, *, library_modules: tuple[str, ...] = (), threshold: int = 3
    ) -> Judged:
        finder = CallSiteFinder(str(CORPUS), library_modules)
        capture = Capture(finder, threshold, all_call_sites=False)
        record = Record("corpus", 10_000, finder)
        finder.start_test()
        capture.install()
        capture.active = record
        try:
            if scenario.__code__.co_argcount == 2:
                scenario(engine, DBGuard(record, cast(Settings, None), []))
            else:
                scenario(engine)
        finally:
            capture.active = None
            capture.uninstall()
        return Judged(
            find_nplusone(record, threshold, Mode.FAIL),
            find_duplicates(record, threshold, Mode.WARN),
        )

    return run
