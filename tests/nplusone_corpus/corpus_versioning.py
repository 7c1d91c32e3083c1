"""A versioning extension in the style of SQLAlchemy-Continuum: a flush listener that reads
the current row of every object being flushed (listed in library_modules by the corpus, as a
package in site-packages would be)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        table = type(obj).__table__
        session.execute(select(table.c.id).where(table.c.id == obj.id)).all()


def versioned(session: Session) -> Session:
    event.listen(session, "before_flush", _before_flush)
    return session
