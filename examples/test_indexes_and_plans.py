"""Indexes and plans: what pytest-dbguard learns from PostgreSQL's EXPLAIN.

Both checks need PostgreSQL; the plugin EXPLAINs each statement shape after its first run in a
test, on the test's own connection, inside a savepoint it rolls back (nothing it runs is
counted), and reuses what it found while the schema stays the same.

- **Missing indexes** (on by default, ``--dbguard-seqscan=fail|warn|off``). On an 8-row test
  table PostgreSQL reads the whole table whatever the indexes, so the plugin plans each
  statement with sequential scans priced out (the *indexed* plan): a table still read in full
  has no index that serves the query. It is a finding when an index on the compared columns,
  created inside the savepoint, removes the whole-table read: the fix is proven, not guessed.
  ``@pytest.mark.allow_seqscan("table")`` accepts it where it is meant.
- **Golden plan snapshots** (``@pytest.mark.snapshot_plans`` on a test, ``--dbguard-plans`` for
  every test). The test's indexed plans are compared with
  ``__dbguard__/<module>/<test>.plan``, written by ``--dbguard-update`` and committed: an access
  that changes (a lost index, a join that changed) fails with what changed and a diff. The golden
  files here were taken on PostgreSQL 18 (``dbguard_plans_postgresql = 18`` in pytest.ini): on
  another major version their plans are not checked (see README.md).

The ``xfail(strict=True, raises=DBGuardFailure)`` tests are demonstrations: they must fail, and
with the finding their ``finding`` marker describes (conftest.py checks the message).
``pytest examples --runxfail`` shows the full messages.
"""

from __future__ import annotations

import pytest
from pytest_dbguard import DBGuardFailure, max_queries
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from research_app import services

# -- missing indexes ----------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: missing index — no index serves research_items.status",
)
@pytest.mark.finding(
    r"Missing index: no index serves research_items \(status\)",
    r"PostgreSQL reads every row of research_items",
    r"at research_app/services\.py:\d+ in review_queue",
    r"Fix, verified on this database",
    r"CREATE INDEX CONCURRENTLY idx_research_items_status ON research_items \(status\);",
)
def test_review_queue_has_no_index(session: Session) -> None:
    """The review queue filters on ``research_items.status``, which has no index: with
    sequential scans disabled PostgreSQL still reads every research item. The message names
    the table, the condition and its column, the line of services.py, and the fix: an index
    leading with ``status``, or ``allow_seqscan``."""
    services.review_queue(session)


@max_queries(1)
@pytest.mark.allow_seqscan(
    "research_items", reason="a few hundred research items in production: a full read is fine"
)
def test_review_queue_accepted_on_purpose(session: Session) -> None:
    """The same query, accepted on purpose: ``allow_seqscan("research_items")`` waives the
    sequential-scan verdict on that table in this test, and nothing else (the budget of one
    query, N+1 detection and scans of other tables are still checked). Set
    ``dbguard_allow_seqscan = research_items`` in pytest.ini to accept it in every test."""
    queue = services.review_queue(session)
    assert [item.id for item in queue] == [2, 5, 8]


@max_queries(1)
def test_analyst_review_queue_uses_the_owner_index(session: Session) -> None:
    """The same status filter, next to ``owner_id = ?``: the index on ``owner_id`` finds the
    analyst's rows and the status filter checks only those. Not every filtered column needs
    an index, one index that narrows the rows is enough: no finding."""
    queue = services.analyst_review_queue(session, 2)
    assert [item.id for item in queue] == [5]


@max_queries(1)
@pytest.mark.snapshot_plans
def test_join_on_an_indexed_foreign_key(session: Session) -> None:
    """A join: research items of one line of business (``line_of_business`` is indexed) with
    their prompts (``prompts.research_item_id``, the foreign key, is indexed). With sequential
    scans disabled both tables are reached through an index: no finding.

    Its plans are also checked against
    ``__dbguard__/test_indexes_and_plans/test_join_on_an_indexed_foreign_key.plan``."""
    rows = services.prompts_for_line(session, "auto")
    assert len(rows) == 9


# -- golden plan snapshots ----------------------------------------------------------------------


@pytest.fixture
def index_lost_since_the_snapshot(request: pytest.FixtureRequest, engine: Engine) -> None:
    """Drops ``ix_research_items_line_of_business``, as a migration that lost it would. Except
    under ``--dbguard-update``: the golden file records the plan *with* the index, so that
    every other run has a changed plan to report. The table holds 8 rows: the snapshot records
    the indexed plan (sequential scans priced out), which shows the index whatever the table's
    size. (Fixture setup is not measured: nothing it runs is counted or explained.)"""
    recorded = int(request.config.getini("dbguard_plans_postgresql"))
    with engine.begin() as conn:
        major = int(conn.scalar(text("SHOW server_version_num"))) // 10000
        if major != recorded:  # plans are not checked here: nothing to demonstrate
            pytest.skip(f"the golden plans are PostgreSQL {recorded}'s; this is {major}")
        if not request.config.getoption("dbguard_update", None):
            conn.execute(text("DROP INDEX ix_research_items_line_of_business"))


@max_queries(1)
@pytest.mark.snapshot_plans
@pytest.mark.allow_seqscan(
    "research_items", reason="the lost index is the plan check's to report, in this test"
)
@pytest.mark.xfail(
    "not config.getoption('dbguard_update', None)",
    strict=True,
    raises=DBGuardFailure,
    reason="pytest-dbguard: plan changed — the index scan on research_items became a Seq Scan",
)
@pytest.mark.finding(
    r"Plans changed against __dbguard__/test_indexes_and_plans/"
    r"test_a_lost_index_changes_the_plan\.plan",
    r"research_items: Index Scan using ix_research_items_line_of_business \(.*\) -> "
    r"Index Scan using research_items_pkey",
)
@pytest.mark.usefixtures("index_lost_since_the_snapshot")
def test_a_lost_index_changes_the_plan(session: Session) -> None:
    """The golden file shows the auto cards read through
    ``ix_research_items_line_of_business``; without the index the plan reads the whole table,
    and the failure shows the two trees as a diff. If a change is intended,
    ``--dbguard-update`` writes the new plan, and the diff of the .plan file goes to review.

    An expected failure in every run but ``--dbguard-update`` (the xfail condition), which
    compares nothing and must record the plan with the index. ``allow_seqscan`` keeps the
    sequential-scan verdict out of it: this test shows what the snapshot catches on its own."""
    cards = services.item_cards(session, "auto")
    assert len(cards) == 4
