"""The data model: analysts (users), their research items, and the LLM prompts of each item.

Indexes are chosen as a real team might: the foreign keys, the e-mail used to log in and the
line of business the dashboards filter on are indexed. ``research_items.status`` is filtered
on too (the review queue) but deliberately has NO index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    """``AsyncAttrs`` adds ``obj.awaitable_attrs.<relationship>`` for async code."""


class User(Base):
    """An analyst."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)  # unique: indexed
    name: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(50))  # "claims", "underwriting", ...

    research_items: Mapped[list[ResearchItem]] = relationship(
        back_populates="owner", order_by="ResearchItem.id"
    )


class ResearchItem(Base):
    """One piece of research, e.g. "Hail damage claims in Texas, 2023"."""

    __tablename__ = "research_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    # draft, in_review or published. Filtered on by the review queue, but NOT indexed.
    status: Mapped[str] = mapped_column(String(20), default="draft")
    line_of_business: Mapped[str] = mapped_column(String(50), index=True)  # "auto", "property"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    owner: Mapped[User] = relationship(back_populates="research_items")
    prompts: Mapped[list[Prompt]] = relationship(
        back_populates="research_item", order_by="Prompt.id", cascade="all, delete-orphan"
    )


class Prompt(Base):
    """An LLM prompt an analyst ran as part of a research item."""

    __tablename__ = "prompts"

    id: Mapped[int] = mapped_column(primary_key=True)
    research_item_id: Mapped[int] = mapped_column(ForeignKey("research_items.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(50))  # "gpt-4o", "claude-sonnet", ...
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    research_item: Mapped[ResearchItem] = relationship(back_populates="prompts")
