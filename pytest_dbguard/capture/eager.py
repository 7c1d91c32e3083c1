"""Unused eager loads: relationships a query loads eagerly (``selectinload``, ``joinedload``,
``subqueryload`` options) whose attribute the test never reads afterwards.

How each part is seen, and why this way:

- The options. A ``do_orm_execute`` listener reads the loader options of each top-level ORM
  SELECT (``ORMExecuteState.is_relationship_load`` and ``is_column_load`` skip the loaders' own
  queries and refreshes). A statement without options costs a few attribute look-ups; the
  stack is walked (for the call site) only for a statement that carries an eager option. The
  options are read from the statement's loader options (``Load.context``: each element's path
  and strategy), the same data SQLAlchemy's compile state reads.
- The reads. SQLAlchemy has events for loading objects and for writing attributes, but none
  for reading a loaded attribute: ``InstrumentedAttribute.__get__`` returns
  ``obj.__dict__[key]``. So, from the first query that eager-loads a relationship until the
  test ends, that relationship's descriptor (and only it) is given a subclass of its own class
  whose ``__get__`` notes the read and then runs SQLAlchemy's ``__get__``; its class is put
  back when the test ends. Every other attribute, and every test without an eager option, runs
  SQLAlchemy's code untouched. Reads through the instance count: ``obj.attr``, ``getattr``,
  pydantic's ``from_attributes``, ``inspect(obj).attrs.attr.value``. A read of the instance's
  ``__dict__`` itself (``vars(obj)``) is not seen.
- The rows. While a class is watched, a ``load`` listener on it notes that one of its instances
  was loaded: a query that found no parent rows loaded nothing, and is not reported.

Reads and loads are noted in sets (cheap on the hot path) and settled into the pending
eager loads whenever a new one is seen and when the test ends, so that a read before the query
never counts for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, RelationshipProperty, Session

from .callsites import CallSite, CallSiteFinder, SiteKey

#: A loader strategy, as loader options record it -> the option's name
_EAGER = {
    (("lazy", "selectin"),): "selectinload",
    (("lazy", "joined"),): "joinedload",
    (("lazy", "subquery"),): "subqueryload",
}
_OTHER = {
    (("lazy", "select"),): "lazyload",
    (("lazy", "raise"),): "raiseload",
    (("lazy", "raise_on_sql"),): "raiseload",
    (("lazy", "noload"),): "noload",
}


@dataclass(slots=True)
class EagerLoad:
    """One eager loader option of one query (call site) in one test."""

    relationship: str  # "Author.books"
    loader: str  # "selectinload"
    option: str  # the whole chain as written: "selectinload(Author.books)"
    descriptor_id: int
    parent_class: type
    site_key: SiteKey | None
    site: CallSite | None = None  # named when the test ends
    loaded: bool = False  # an instance of the parent class was loaded after the query
    read: bool = False  # the attribute was read through an instance after the query


@dataclass(frozen=True, slots=True)
class _Option:
    prop: RelationshipProperty[Any]
    loader: str
    text: str


def _name(prop: RelationshipProperty[Any]) -> str:
    return f"{prop.parent.class_.__name__}.{prop.key}"


def _loader_name(strategy: Any) -> str:
    if not isinstance(strategy, tuple):
        return "defaultload"
    return _EAGER.get(strategy) or _OTHER.get(strategy) or "defaultload"


def _eager_loader(strategy: Any) -> str | None:
    return _EAGER.get(strategy) if isinstance(strategy, tuple) else None


def eager_options(options: Any) -> Iterator[_Option]:
    """The eager relationship loads among a statement's options, each with its chain as the
    user wrote it (``selectinload(Author.books).joinedload(Book.publisher)``)."""
    for option in options:
        elements = getattr(option, "context", None)
        if not isinstance(elements, tuple):
            continue  # not a loader option (a user-defined option, with_loader_criteria ...)
        written: list[tuple[tuple[Any, ...], str]] = []
        for element in elements:
            path = tuple(getattr(getattr(element, "path", None), "path", ()))
            prop = path[-2] if len(path) >= 2 else None
            if not isinstance(prop, RelationshipProperty):
                continue  # a wildcard, a column, a class-level option
            strategy = getattr(element, "strategy", None)
            link = f"{_loader_name(strategy)}({_name(prop)})"
            chain = [text for prefix, text in written if path[: len(prefix)] == prefix]
            written.append((path, link))
            loader = _eager_loader(strategy)
            if loader is not None:
                yield _Option(prop, loader, ".".join([*chain, link]))


def _doc_attribute(base: type) -> Any:
    """The ``__doc__`` a class defines for its instances (InstrumentedAttribute's is a
    property): a subclass made with ``type()`` would otherwise hide it behind ``None``."""
    for klass in base.__mro__:
        if "__doc__" in klass.__dict__:
            return klass.__dict__["__doc__"]
    return None


class EagerLoadWatcher:
    """The session's watcher; ``start`` and ``stop`` bracket one test's call phase."""

    def __init__(self, finder: CallSiteFinder) -> None:
        self.finder = finder
        self.active = False
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, str, SiteKey | None], EagerLoad] = {}
        self._reads: set[int] = set()  # id() of watched descriptors read (never reassigned)
        self._loaded: set[type] = set()  # watched parent classes with an instance loaded
        self._watched: dict[int, tuple[Any, type]] = {}  # id -> (descriptor, its own class)
        self._load_listeners: dict[type, Callable[..., None]] = {}
        self._subclasses: dict[type, type] = {}

    def install(self) -> None:
        event.listen(Session, "do_orm_execute", self._on_orm_execute)

    def uninstall(self) -> None:
        self.stop()
        if event.contains(Session, "do_orm_execute", self._on_orm_execute):
            event.remove(Session, "do_orm_execute", self._on_orm_execute)

    def start(self) -> None:
        self._entries = {}
        self._reads.clear()
        self._loaded.clear()
        self.active = True

    def stop(self) -> list[EagerLoad]:
        """The test's eager loads, settled; every watched descriptor gets its class back."""
        self.active = False
        with self._lock:
            self._settle()
            for descriptor, own_class in self._watched.values():
                descriptor.__class__ = own_class
            self._watched.clear()
            for parent_class, listener in self._load_listeners.items():
                if event.contains(parent_class, "load", listener):
                    event.remove(parent_class, "load", listener)
            self._load_listeners.clear()
            entries = list(self._entries.values())
            self._entries = {}
        for entry in entries:
            entry.site = None if entry.site_key is None else self.finder.name(entry.site_key)
        return entries

    def _on_orm_execute(self, state: ORMExecuteState) -> None:
        if not self.active or not state.is_select:
            return
        options = getattr(state.statement, "_with_options", ())
        if not options or state.is_relationship_load or state.is_column_load:
            return
        try:
            found = list(eager_options(options))
        except Exception:  # noqa: BLE001 (an option of a shape this SQLAlchemy does not have: not judged)
            return
        if not found:
            return
        site = self.finder.find_path().site
        with self._lock:
            if not self.active:
                return
            self._settle()  # reads before this query do not count for it
            for option in found:
                self._add(option, site)

    def _add(self, option: _Option, site: SiteKey | None) -> None:
        descriptor = option.prop.class_attribute
        key = (id(descriptor), option.text, site)
        if key in self._entries:
            return
        parent_class = option.prop.parent.class_
        self._entries[key] = EagerLoad(
            _name(option.prop), option.loader, option.text, id(descriptor), parent_class, site
        )
        self._watch(descriptor)
        if parent_class not in self._load_listeners:
            loaded = self._loaded

            def on_load(_target: Any, _context: Any) -> None:
                loaded.add(parent_class)

            event.listen(parent_class, "load", on_load, propagate=True)
            self._load_listeners[parent_class] = on_load

    def _settle(self) -> None:
        for entry in self._entries.values():
            entry.read = entry.read or entry.descriptor_id in self._reads
            entry.loaded = entry.loaded or entry.parent_class in self._loaded
        self._reads.clear()
        self._loaded.clear()

    def _watch(self, descriptor: Any) -> None:
        if id(descriptor) in self._watched:
            return
        own_class = type(descriptor)
        descriptor.__class__ = self._subclass(own_class)
        self._watched[id(descriptor)] = (descriptor, own_class)

    def _subclass(self, base: type) -> type:
        """``base`` with a ``__get__`` that notes a read through an instance, then does what
        ``base.__get__`` does; same name, same slots (so that ``__class__`` can be set)."""
        subclass = self._subclasses.get(base)
        if subclass is None:
            reads = self._reads
            base_get = base.__get__  # type: ignore[attr-defined]

            def __get__(descriptor: Any, instance: Any, owner: Any = None) -> Any:
                if instance is not None:
                    reads.add(id(descriptor))
                return base_get(descriptor, instance, owner)

            subclass = type(
                base.__name__,
                (base,),
                {
                    "__slots__": (),
                    "__get__": __get__,
                    "__doc__": _doc_attribute(base),
                    "__module__": base.__module__,
                    "__qualname__": base.__qualname__,
                    "inherit_cache": True,  # SQLAlchemy's statement cache: as its base
                },
            )
            self._subclasses[base] = subclass
        return subclass
