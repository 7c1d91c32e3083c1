"""Each scale factor's data, rolled back: a SAVEPOINT on the session (or connection) the user
names, around the populate step and the measured block.

What the user sees afterwards is what they had before the assertion:

- the database: everything written through that session or connection inside the savepoint is
  rolled back (``ROLLBACK TO SAVEPOINT``); those two statements (and a BEGIN, when the session
  had not begun its transaction yet, as its next query would) are the only SQL the rollback
  adds on the user's connection;
- the session: populate's objects are expunged once flushed (so that the block loads them
  from the database, as the code under test would); SQLAlchemy expunges the objects the
  savepoint created and expires those it changed. On top of that, the objects that were in
  the identity map before get back the attribute values they had loaded
  (``set_committed_value``) and lose those loaded since (so a pre-existing parent never holds
  a collection of rolled-back rows); objects loaded since are expunged. Nothing is added to
  ``session.info`` or anywhere else.

A session with pending changes (new, changed or deleted objects not yet flushed) is refused:
the rollback would discard them. So is a block that commits or rolls back the session's own
transaction, which would commit or drop the data of a scale factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import RelationshipProperty, Session, scoped_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.state import InstanceState

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


@cache
def _asyncio() -> Any:
    """SQLAlchemy's asyncio extension, imported when first needed: it requires greenlet, which
    SQLAlchemy 2.1 no longer installs; without it no async session or connection can exist,
    and the plugin must still load (None then)."""
    try:
        from sqlalchemy.ext import asyncio
    except ImportError:
        return None
    return asyncio


def _async_types() -> tuple[type, ...]:
    asyncio = _asyncio()
    return () if asyncio is None else (asyncio.AsyncSession, asyncio.AsyncConnection)


def _is_async_session(target: Any) -> bool:
    asyncio = _asyncio()
    return asyncio is not None and isinstance(target, asyncio.AsyncSession)


class RollbackProblem(Exception):
    """The data of a scale factor cannot be rolled back safely (a usage error)."""


def resolve(target: Any) -> Session | Connection | AsyncSession | AsyncConnection:
    """The session or connection behind what the user passed (a scoped session is asked for
    its current session, as Flask-SQLAlchemy's ``db.session`` is)."""
    asyncio = _asyncio()
    scoped = (
        (scoped_session,) if asyncio is None else (scoped_session, asyncio.async_scoped_session)
    )
    if isinstance(target, scoped):
        target = target()
    if isinstance(target, (Session, Connection, *_async_types())):
        return target  # type: ignore[return-value]
    raise RollbackProblem(
        "session= must be the SQLAlchemy Session, AsyncSession, Connection or AsyncConnection "
        f"that populate writes through (its data is rolled back after each scale), not {target!r}"
    )


def is_async(target: Any) -> bool:
    return isinstance(target, _async_types())


def _sync_session(target: Any) -> Session | None:
    if _is_async_session(target):
        return target.sync_session  # type: ignore[no-any-return]
    return target if isinstance(target, Session) else None


@dataclass
class _Loaded:
    """What an object in the identity map had loaded before the savepoint."""

    values: dict[str, Any]
    expired_attributes: set[str]
    expired: bool


@dataclass
class Savepoint:
    """One scale factor's savepoint; ``begin`` / ``flush`` / ``end`` (and the ``a``-prefixed
    coroutines for async sessions and connections)."""

    target: Any
    label: str  # "scale 5", for messages
    nested: Any = None
    before: dict[InstanceState[Any], _Loaded] = field(default_factory=dict)

    def begin(self) -> None:
        self._snapshot()
        self.nested = self.target.begin_nested()

    async def abegin(self) -> None:
        if not is_async(self.target):
            return self.begin()
        self._snapshot()
        self.nested = await self.target.begin_nested()

    def flush(self) -> None:
        """populate's objects written before the block runs (their INSERTs are not counted),
        then expunged: the block loads them from the database, as the code under test does in
        a request, instead of finding them in the identity map with their relationships
        already loaded (which would hide the very lazy loads the assertion is about)."""
        if isinstance(self.target, Session):
            self.target.flush()
            self._expunge_since()

    async def aflush(self) -> None:
        if _is_async_session(self.target):
            await self.target.flush()
            self._expunge_since()
        else:
            self.flush()

    def _expunge_since(self) -> None:
        session = _sync_session(self.target)
        if session is None:
            return
        for state in list(session.identity_map.all_states()):
            obj = state.obj()
            if state not in self.before and obj is not None and obj in session:
                session.expunge(obj)

    def end(self, failing: bool = False) -> None:
        """Roll back to the savepoint. ``failing``: the block raised; its exception is the one
        to see, so a savepoint it ended is not reported on top of it."""
        ended = self._ended()
        if not ended:
            self.nested.rollback()
        self._restore()
        self._raise_if(ended and not failing)

    async def aend(self, failing: bool = False) -> None:
        if not is_async(self.target):
            return self.end(failing)
        ended = self._ended()
        if not ended:
            await self.nested.rollback()
        self._restore()
        self._raise_if(ended and not failing)

    def _ended(self) -> bool:
        """Whether the savepoint is gone (committed, or rolled back with the transaction). One
        that a failed flush deactivated is still there, and still to be rolled back."""
        if self.nested is None:
            return True
        nested = getattr(self.nested, "sync_transaction", None) or self.nested
        owner = getattr(self.target, "sync_session", None) or getattr(
            self.target, "sync_connection", None
        )
        owner = owner or self.target
        return nested is not owner.get_nested_transaction()

    def _raise_if(self, ended: bool) -> None:
        if ended:
            raise RollbackProblem(
                f"the savepoint of {self.label} was ended by the code under test (a commit or a "
                "rollback of the session's transaction): its data could not be rolled back. "
                "Flush instead of committing, or bind the session with "
                "join_transaction_mode='create_savepoint' so that its commits are savepoints"
            )

    def _snapshot(self) -> None:
        session = _sync_session(self.target)
        if session is None:
            return
        pending = len(session.new) + len(session.dirty) + len(session.deleted)
        if pending:
            raise RollbackProblem(
                f"the session has {pending} pending change(s) (new, changed or deleted objects "
                "not yet flushed) that the rollback between scales would discard: flush or "
                "commit them before the assertion"
            )
        self.before = {
            state: _Loaded(_loaded_values(state), set(state.expired_attributes), state.expired)
            for state in session.identity_map.all_states()
            if state.obj() is not None
        }

    def _restore(self) -> None:
        session = _sync_session(self.target)
        if session is None:
            return
        for state, values in self.before.items():
            if state.obj() is not None and state.session_id == session.hash_key:
                _put_back(session, state, values)
        self._expunge_since()
        for state in self.before:  # a cascade of an expunge may have taken one away
            obj = state.obj()
            if obj is not None and obj not in session and state.key is not None:
                session.add(obj)


def _is_collection(state: InstanceState[Any], key: str) -> bool:
    prop = state.mapper.attrs.get(key)
    return isinstance(prop, RelationshipProperty) and bool(prop.uselist)


def _loaded_values(state: InstanceState[Any]) -> dict[str, Any]:
    """The mapped attributes the object has loaded; collections copied (the block may change
    the collection object itself)."""
    values = {}
    for key, value in state.dict.items():
        if key not in state.manager:
            continue  # the user's own instance attribute, not SQLAlchemy's
        if value is not None and _is_collection(state, key):
            value = list(value.values()) if isinstance(value, dict) else list(value)
        values[key] = value
    return values


def _same(state: InstanceState[Any], key: str, value: Any) -> bool:
    current = state.dict[key]
    if current is value:
        return True
    if current is not None and value is not None and _is_collection(state, key):
        items = list(current.values()) if isinstance(current, dict) else list(current)
        return len(items) == len(value) and all(a is b for a, b in zip(items, value, strict=True))
    try:
        return bool(current == value)
    except Exception:  # noqa: BLE001 (a type whose == is not a boolean may raise anything)
        return False


def _put_back(session: Session, state: InstanceState[Any], before: _Loaded) -> None:
    obj = state.obj()
    values = before.values
    since = [key for key in state.dict if key in state.manager and key not in values]
    if since:
        session.expire(obj, since)
    for key, value in values.items():
        if key not in state.dict or not _same(state, key, value):
            set_committed_value(obj, key, value)
    # Unloaded as before, not "expired": an attribute loaded since is unloaded again, and one
    # the savepoint's rollback expired has its value back (both load on access as before).
    state.expired_attributes.clear()
    state.expired_attributes.update(before.expired_attributes)
    state.expired = before.expired
