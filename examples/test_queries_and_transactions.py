"""What pytest-dbguard records, what it counts, and what it only warns about.

- ``dbguard.queries``: every statement of the test, with its kind, normalized fingerprint and
  the line of *your* code that sent it (not a line inside SQLAlchemy);
- fixture setup and transaction control (BEGIN, COMMIT, SAVEPOINT, ...) are recorded but not
  counted against budgets;
- the same query with the same parameters, run again and again: a DBGuardWarning.
"""

from __future__ import annotations

from pytest_dbguard import DBGuard, num_queries
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from research_app import services
from research_app.models import Prompt


def test_queries_have_kind_fingerprint_and_call_site(session: Session, dbguard: DBGuard) -> None:
    """Assert on the statements themselves: here, that the digest's second query loads the
    prompts of all the items at once (``IN (...)``), from ``research_digest``."""
    services.research_digest(session)

    assert [query.kind for query in dbguard.queries] == ["transaction", "select", "select"]
    begin, items, prompts = dbguard.queries
    assert (begin.sql, begin.counted) == ("BEGIN", False)
    assert items.fingerprint.startswith("SELECT research_items.id, research_items.owner_id")
    assert "WHERE prompts.research_item_id IN (...)" in prompts.fingerprint
    assert items.call_site.path == "research_app/services.py"
    assert items.call_site.function == "research_digest"
    assert dbguard.count() == 2


def test_fingerprints_hide_parameter_values(session: Session, dbguard: DBGuard) -> None:
    """Two lookups with different ids share one fingerprint: values become ``?``."""
    services.analyst_team(session, 1)
    services.analyst_team(session, 2)

    first, second = (query for query in dbguard.queries if query.counted)
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint.startswith("SELECT users.team FROM users WHERE users.id = ?")


@num_queries(1)
def test_fixture_setup_is_not_counted(session: Session) -> None:
    """The ``engine`` fixture created the schema and inserted 28 rows before this test ran:
    none of it counts. Only this test's own query does (dbguard_count_setup turns it on)."""
    assert session.scalar(select(func.count()).select_from(Prompt)) == 17


@num_queries(3)
def test_savepoints_are_not_counted(session: Session, dbguard: DBGuard) -> None:
    """The import runs each row in a SAVEPOINT and skips the row whose research item does not
    exist (ROLLBACK TO SAVEPOINT). Exactly 3 INSERTs count; the 7 transaction statements
    (BEGIN, 3 SAVEPOINT, 2 RELEASE, 1 ROLLBACK TO) are recorded but free, so a tight budget
    holds (add ``transaction`` to dbguard_count_kinds to count them too)."""
    imported = services.import_prompts(
        session,
        [
            (1, "Which hail claims were reopened?", "gpt-4o"),
            (999, "An orphan prompt: no research item 999", "gpt-4o"),
            (2, "Summarise windshield repair costs", "claude-sonnet"),
        ],
    )
    assert imported == 2
    assert dbguard.count(kinds="transaction") == 7


def test_repeated_lookup_warns(session: Session) -> None:
    """``export_rows_repeated_lookup`` asks for the same analyst's team once per row: the same
    statement with the same parameters. That is not an N+1 (nothing varies) but waste, so
    pytest-dbguard emits a DBGuardWarning (dbguard_duplicates = warn in pytest.ini): the test
    passes, and the warning, pointing at ``analyst_team`` in services.py, is in the
    "warnings summary" at the end of the run. The check runs after the test body, so
    ``pytest.warns`` inside the test cannot catch it; set dbguard_duplicates = fail to make
    it a failure."""
    rows = services.export_rows_repeated_lookup(session, 1)
    assert {team for _, _, team in rows} == {"claims"}


@num_queries(2)
def test_lookup_once(session: Session) -> None:
    """The fix: look the team up once before the loop. No warning."""
    rows = services.export_rows(session, 1)
    assert len(rows) == 4
