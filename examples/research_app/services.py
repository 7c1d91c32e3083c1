"""Service functions, as the platform's web handlers call them.

Each classic mistake sits next to its fix:

================================  ==========================================  ===================
what the page shows               MISTAKE (N+1 or repeated query)             FIX
================================  ==========================================  ===================
research items with prompts       ``research_digest_lazy``                    ``research_digest``
items of a line, with owners      ``item_cards_lazy``                         ``item_cards``
prompt counts per item            ``prompt_counts_per_item``                  ``prompt_counts``
an analyst's items, with team     ``export_rows_repeated_lookup``             ``export_rows``
================================  ==========================================  ===================

And one query no index can serve: ``review_queue`` filters on ``research_items.status``, which
has no index (``analyst_review_queue`` narrows the rows through the indexed ``owner_id`` first).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from .models import Prompt, ResearchItem, User

# -- research items with their prompts (one-to-many) --------------------------------------------


def research_digest(session: Session) -> list[tuple[str, int]]:
    """FIX: items and their prompts in two queries, however many items there are."""
    items = session.scalars(
        select(ResearchItem).options(selectinload(ResearchItem.prompts)).order_by(ResearchItem.id)
    )
    return [(item.title, len(item.prompts)) for item in items]


def research_digest_lazy(session: Session) -> list[tuple[str, int]]:
    """MISTAKE: ``item.prompts`` is lazy-loaded, one more query per item (N+1)."""
    items = session.scalars(select(ResearchItem).order_by(ResearchItem.id))
    return [(item.title, len(item.prompts)) for item in items]


# -- items of one line of business, with their owner (many-to-one) -----------------------------


def item_cards(session: Session, line_of_business: str) -> list[str]:
    """FIX: the owners come in the same query, through a JOIN."""
    items = session.scalars(
        select(ResearchItem)
        .options(joinedload(ResearchItem.owner))
        .where(ResearchItem.line_of_business == line_of_business)
        .order_by(ResearchItem.id)
    )
    return [f"{item.title} ({item.owner.name})" for item in items]


def item_cards_lazy(session: Session, line_of_business: str) -> list[str]:
    """MISTAKE: ``item.owner`` is lazy-loaded, one query per distinct owner."""
    items = session.scalars(
        select(ResearchItem)
        .where(ResearchItem.line_of_business == line_of_business)
        .order_by(ResearchItem.id)
    )
    return [f"{item.title} ({item.owner.name})" for item in items]


# -- prompt counts for the dashboard (Core, no ORM objects) -----------------------------------


def prompt_counts(conn: Connection) -> dict[int, int]:
    """FIX: one GROUP BY query."""
    rows = conn.execute(
        select(Prompt.research_item_id, func.count()).group_by(Prompt.research_item_id)
    )
    return {item_id: count for item_id, count in rows}


def prompt_counts_per_item(conn: Connection) -> dict[int, int]:
    """MISTAKE: a COUNT query per research item (a Core N+1: no lazy loading involved)."""
    item_ids = conn.scalars(select(ResearchItem.id).order_by(ResearchItem.id)).all()
    counts = {}
    for item_id in item_ids:
        counts[item_id] = conn.scalar(
            select(func.count()).select_from(Prompt).where(Prompt.research_item_id == item_id)
        )
    return counts


# -- an analyst's CSV export ------------------------------------------------------------------


def analyst_team(session: Session, user_id: int) -> str:
    """A small helper that queries every time it is called (no identity map for columns)."""
    return session.execute(select(User.team).where(User.id == user_id)).scalar_one()


def export_rows(session: Session, user_id: int) -> list[tuple[str, str, str]]:
    """FIX: look the team up once, before the loop."""
    team = analyst_team(session, user_id)
    items = session.scalars(select(ResearchItem).where(ResearchItem.owner_id == user_id))
    return [(item.title, item.status, team) for item in items]


def export_rows_repeated_lookup(session: Session, user_id: int) -> list[tuple[str, str, str]]:
    """MISTAKE: the same team lookup, with the same user id, once per exported row."""
    items = session.scalars(select(ResearchItem).where(ResearchItem.owner_id == user_id))
    return [(item.title, item.status, analyst_team(session, user_id)) for item in items]


# -- the home page -----------------------------------------------------------------------------


def dashboard(session: Session) -> dict[str, object]:
    """The home page: every item with its prompt count, the property cards, prompt counts.
    Each part is efficient; together they are four queries."""
    return {
        "digest": research_digest(session),
        "property": item_cards(session, "property"),
        "prompt_counts": prompt_counts(session.connection()),
    }


# -- review queue -------------------------------------------------------------------------------


def review_queue(session: Session) -> list[ResearchItem]:
    """Items waiting for review. Filters on ``research_items.status``, which has no index."""
    return list(
        session.scalars(
            select(ResearchItem)
            .where(ResearchItem.status == "in_review")
            .order_by(ResearchItem.created_at, ResearchItem.id)
        )
    )


def analyst_review_queue(session: Session, owner_id: int) -> list[ResearchItem]:
    """One analyst's items waiting for review. The same status filter, but ``owner_id`` is
    indexed: the index finds the analyst's few rows, the status filter only checks those."""
    return list(
        session.scalars(
            select(ResearchItem)
            .where(ResearchItem.owner_id == owner_id, ResearchItem.status == "in_review")
            .order_by(ResearchItem.created_at, ResearchItem.id)
        )
    )


# -- prompts of one line of business (a join) ---------------------------------------------------


def prompts_for_line(session: Session, line_of_business: str) -> list[tuple[str, str]]:
    """The prompts run for one line of business: research items joined to their prompts on
    ``prompts.research_item_id``, an indexed foreign key."""
    rows = session.execute(
        select(ResearchItem.title, Prompt.model)
        .join(ResearchItem.prompts)
        .where(ResearchItem.line_of_business == line_of_business)
        .order_by(Prompt.id)
    )
    return [(title, model) for title, model in rows]


# -- writes -------------------------------------------------------------------------------------


def record_prompts(session: Session, item_id: int, prompts: Iterable[tuple[str, str]]) -> None:
    """Store a batch of prompts in one statement: a Core INSERT given a list of rows is sent
    with the driver's ``executemany``, which counts as one query."""
    rows = [{"research_item_id": item_id, "text": text, "model": model} for text, model in prompts]
    session.connection().execute(insert(Prompt), rows)


def import_prompts(session: Session, rows: Iterable[tuple[int, str, str]]) -> int:
    """Import prompts one by one, each inside a SAVEPOINT, skipping rows whose research item
    does not exist (the import goes on and the outer transaction stays usable)."""
    imported = 0
    for item_id, text, model in rows:
        try:
            with session.begin_nested():  # SAVEPOINT ... RELEASE SAVEPOINT (or ROLLBACK TO)
                session.add(Prompt(research_item_id=item_id, text=text, model=model))
        except IntegrityError:
            continue
        imported += 1
    return imported


def publish(session: Session, item_id: int) -> None:
    """Mark a research item published and commit."""
    item = session.get_one(ResearchItem, item_id)
    item.status = "published"
    session.commit()


# -- titles of the research items (an eager load nobody reads) ---------------------------------


def item_titles_overfetching(session: Session) -> list[str]:
    """MISTAKE: loads every item's prompts (``selectinload``) and never reads them."""
    items = session.scalars(
        select(ResearchItem).options(selectinload(ResearchItem.prompts)).order_by(ResearchItem.id)
    )
    return [item.title for item in items]


def item_titles(session: Session) -> list[str]:
    """FIX: only what the page shows."""
    return list(session.scalars(select(ResearchItem.title).order_by(ResearchItem.id)))
