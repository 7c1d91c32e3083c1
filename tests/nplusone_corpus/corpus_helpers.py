"""Code of the corpus's "application": a repository helper and a versioning-like library."""

from __future__ import annotations

from typing import Any

from corpus_models import Book
from sqlalchemy import Connection, Select, func, select


def scalar(conn: Connection, statement: Select[Any]) -> Any:
    """A shared repository helper (``repo.scalar()``): every lookup goes through this line."""
    return conn.execute(statement).scalar()


def book_count(conn: Connection, author_id: int) -> int:
    """A helper with no loop of its own, called once per row by its caller."""
    return int(conn.execute(select(func.count()).where(Book.author_id == author_id)).scalar_one())
