"""The same digest for the async API (``AsyncSession``), right and wrong.

pytest-dbguard captures async engines through their sync engine, so nothing changes in the
tests: the N+1 below is caught exactly like its sync twin in ``services.py``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .models import ResearchItem


async def research_digest(session: AsyncSession) -> list[tuple[str, int]]:
    """FIX: items and their prompts in two queries."""
    items = await session.scalars(
        select(ResearchItem).options(selectinload(ResearchItem.prompts)).order_by(ResearchItem.id)
    )
    return [(item.title, len(item.prompts)) for item in items]


async def research_digest_lazy(session: AsyncSession) -> list[tuple[str, int]]:
    """MISTAKE: ``await item.awaitable_attrs.prompts`` lazy-loads the prompts of each item, one
    query per item. (Plain ``item.prompts`` would raise MissingGreenlet instead; the awaitable
    attribute makes the N+1 work, and so easy to write.)"""
    items = (await session.scalars(select(ResearchItem).order_by(ResearchItem.id))).all()
    return [(item.title, len(await item.awaitable_attrs.prompts)) for item in items]
