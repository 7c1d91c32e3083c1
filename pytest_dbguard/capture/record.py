"""What capture records for one test: each statement shape with exact counts, a few sampled
runs with their call sites, the ordered log of runs, and the ORM's lazy loads.

The record is a capture buffer and nothing else: what the plugin concludes from it lives in
the test's outcome (``outcome/``).
"""

from __future__ import annotations

import datetime
import decimal
import enum
import itertools
import re
import threading
import uuid
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .callsites import CallPath, CallSite, CallSiteFinder, SiteKey
from .fingerprint import (
    fingerprint,
    is_internal,
    is_single_statement,
    placeholders,
    statement_kind,
)

_MAX_SHAPES = 50_000  # distinct statement texts cached per session before the cache restarts
_MAX_TEXTS_PER_TEST = 10_000  # beyond this a test's statements are looked up by shape
_MAX_PARENTS = 10_000  # distinct parent objects remembered per lazy-loaded relationship
_MAX_KEPT_VALUES = 64  # parameter values kept with a logged run, at most
_MAX_KEPT_LENGTH = 1024  # a kept string or bytes value has at most this length


@dataclass(slots=True)
class Shape:
    """What is known about one statement text, for the whole session."""

    fingerprint: str
    kind: str
    internal: bool  # a catalog or session query of SQLAlchemy's or a driver's own
    single: bool  # one statement (a text of several is never explained)
    batching: str | None = None  # "keyset" or "page": a SELECT that reads one batch of rows
    list_slots: frozenset[str | int] = frozenset()  # parameters inside IN (...) lists


# Batches and pages: a LIMIT with an OFFSET, or a LIMIT over an ORDER BY with a range on a
# parameter (``WHERE id > :last ORDER BY id LIMIT n``, keyset pagination). Run in a loop, one
# per batch, they are not an N+1 (the loop's point is not to read every row at once).
_LIMIT = re.compile(r"\b(?:LIMIT|FETCH\s+(?:FIRST|NEXT))\b", re.IGNORECASE)
_OFFSET = re.compile(r"\bOFFSET\b", re.IGNORECASE)
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
_RANGE = re.compile(r"(?<![<>!])(?:<=?|>=?)(?!>)\s*(?:\?|\(\.\.\.\))")
# Placeholders of every DBAPI style, and IN lists (not subqueries) in a statement's text.
_PARAM = re.compile(  # one placeholder, as ``placeholders`` finds it: which slot it fills
    r"%\((?P<name>[^)]*)\)s|\$(?P<number>\d+)|(?P<position>%s|\?)|:(?P<colon>[A-Za-z_]\w*)"
)
_IN_LIST = re.compile(r"\bIN\s*\((?!\s*SELECT\b)(?:[^()]|\([^()]*\))*\)", re.IGNORECASE)


def batching(shape: str) -> str | None:
    """ "page" or "keyset" for a SELECT that reads one batch of a longer result."""
    if not _LIMIT.search(shape):
        return None
    if _OFFSET.search(shape):
        return "page"
    if _ORDER_BY.search(shape) and _RANGE.search(shape):
        return "keyset"
    return None


def list_slots(text: str) -> frozenset[str | int]:
    """The parameters (names, or positions for positional styles) inside ``IN (...)`` lists:
    a loop over chunks of keys changes only these."""
    spans = [match.span() for match in _IN_LIST.finditer(text)]
    if not spans:
        return frozenset()
    slots: set[str | int] = set()
    position = 0
    for token in placeholders(text):
        match = _PARAM.fullmatch(token.group("param"))
        if match is None:
            continue
        if match.group("position") is not None:
            slot: str | int = position
            position += 1
        elif match.group("number") is not None:
            slot = int(match.group("number")) - 1
        else:
            slot = match.group("name") or match.group("colon")
        if any(start <= token.start() < end for start, end in spans):
            slots.add(slot)
    return frozenset(slots)


class ShapeCache:
    def __init__(self) -> None:
        self._shapes: dict[str, Shape] = {}

    def get(self, text: str) -> Shape:
        shape = self._shapes.get(text)
        if shape is None:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape_text = fingerprint(text)
            kind = statement_kind(shape_text)
            shape = Shape(
                shape_text,
                kind,
                is_internal(shape_text),
                is_single_statement(text),
                batching(shape_text) if kind == "select" else None,
                list_slots(text) if kind == "select" and "(...)" in shape_text else frozenset(),
            )
            self._shapes[text] = shape
        return shape


class NotKept:
    """Stands for parameter values too large to keep (a record must stay small whatever the
    test sends: a 1 MB blob per insert must not stay alive in the plugin)."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return f"<{self.description}: not kept>"


def kept_parameters(parameters: Any, executemany: bool) -> Any:
    """``parameters`` itself when it is small, otherwise a ``NotKept`` that describes it."""
    if parameters is None:
        return None
    if executemany:
        if isinstance(parameters, (list, tuple)) and len(parameters) == 1:
            inner = kept_parameters(parameters[0], False)
            return parameters if inner is parameters[0] else NotKept("a batch of 1 large row")
        size = len(parameters) if isinstance(parameters, (list, tuple)) else "?"
        return NotKept(f"a batch of {size} parameter sets")
    values = parameters.values() if type(parameters) is dict else parameters
    if not isinstance(values, (tuple, list, type({}.values()))):
        return NotKept(type(parameters).__name__)
    if len(values) > _MAX_KEPT_VALUES:
        return NotKept(f"{len(values)} values")
    for value in values:
        problem = _too_big(value, 2)
        if problem:
            return NotKept(problem)
    return parameters


# Values whose size is bounded whatever they hold: kept as they are.
_SCALARS = (
    type(None),
    bool,
    int,
    float,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    enum.Enum,
)


def _too_big(value: Any, depth: int) -> str | None:
    """Why ``value`` is not kept, or None. Anything but a bounded scalar, a short string or a
    short collection of those is described, never kept: a driver's wrapper (psycopg's
    ``Binary``, a JSON adapter) may hold megabytes behind a small ``len``."""
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        if len(value) > _MAX_KEPT_LENGTH:
            return f"a {type(value).__name__} of {len(value):,} items"
        return None
    if isinstance(value, (list, tuple, dict)) and depth > 0:
        if len(value) > _MAX_KEPT_LENGTH:
            return f"a {type(value).__name__} of {len(value):,} items"
        items = value.values() if isinstance(value, dict) else value
        return next((why for item in items if (why := _too_big(item, depth - 1))), None)
    return f"a {type(value).__name__}"


_PLAIN = frozenset({int, float, bool, type(None)})


def plain_items(parameters: Any) -> tuple[Any, ...] | None:
    """The parameters as a tuple when every value is a plain scalar or a short string (most
    statements), else None. For them the kept copy is the parameters themselves and the key
    is the hash of this tuple: the same values ``kept_parameters`` and ``parameters_key``
    would give, in one pass instead of two deep ones (this runs for every sampled run)."""
    kind = type(parameters)
    if kind is dict:
        values: Any = parameters.values()
        items = tuple(parameters.items())
    elif kind is tuple or kind is list:
        values, items = parameters, tuple(parameters)
    else:
        return None
    if len(values) > _MAX_KEPT_VALUES:
        return None
    for value in values:
        kind = type(value)
        if kind is str:
            if len(value) > _MAX_KEPT_LENGTH:
                return None
        elif kind not in _PLAIN:
            return None
    return items


def parameters_key(text: str, parameters: Any) -> int:
    """A hash that tells runs of one text with other parameter values apart, without keeping
    the values (computed once per sampled run)."""
    return hash((text, _hashable(parameters, 3)))


def scalar_key(parameters: Any, slots: frozenset[str | int]) -> int | None:
    """A hash of the parameters outside IN lists and array values (``= ANY(:ids)``), or
    ``None`` when the statement has none of those: runs over chunks of keys share it."""
    if type(parameters) is dict:
        values: Any = parameters.values()
        items: Any = parameters.items()
    elif isinstance(parameters, (list, tuple)):
        values, items = parameters, enumerate(parameters)
    else:
        return None
    if not slots and not any(isinstance(value, _LISTS) for value in values):
        return None  # most statements: no list anywhere, nothing to leave out
    kept = [(key, value) for key, value in items if key not in slots and not _is_list(value)]
    if len(kept) == len(values):
        return None
    return hash(tuple((key, _hashable(value, 3)) for key, value in kept))


_LISTS = (list, tuple, set, frozenset)


def _is_list(value: Any) -> bool:
    return isinstance(value, _LISTS)


def _hashable(value: Any, depth: int) -> Any:
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if depth <= 0:
        return type(value).__name__
    if isinstance(value, dict):
        return tuple((key, _hashable(item, depth - 1)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item, depth - 1) for item in value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    try:
        hash(value)
    except TypeError:
        return repr(value)[:_MAX_KEPT_LENGTH]
    return value


@dataclass(slots=True)
class Sample:
    """One run of a statement whose call site was recorded."""

    seq: int
    site_key: SiteKey | None
    params_key: int | None  # None for a batch (executemany): never a repeat of one row
    orm_load: str | None  # "lazy" (a relationship) or "refresh" (expired attributes), by the ORM
    unit: int = 0  # the unit of work it ran in (see ``Record.unit_of``)
    caller: SiteKey | None = None  # the user frame that called the call site's function
    hook: str | None = None  # the library whose SQLAlchemy event hook sent it
    scalar_key: int | None = None  # its parameters outside IN lists (see ``scalar_key``)
    at: float = 0.0  # when it ran (time.perf_counter): polls wait between runs


@dataclass(slots=True)
class Statement:
    """One statement shape within one test: exact counts and a few sampled runs."""

    text: str  # the first text seen with this shape
    shape: Shape
    dialect: str
    first_seq: int
    finder: CallSiteFinder
    count: int = 0
    samples: list[Sample] = field(default_factory=list)
    sites: dict[SiteKey | None, int] = field(default_factory=dict)  # sampled runs per site
    sampling: bool = True
    examined: bool = False  # its first successful run was handed to the examiner

    def call_sites(self) -> list[CallSite]:
        return list(dict.fromkeys(self.finder.name(key) for key in self.sites if key is not None))

    def first_call_site(self) -> CallSite | None:
        key = next((key for key in self.sites if key is not None), None)
        return None if key is None else self.finder.name(key)


@dataclass(slots=True)
class LazyLoads:
    """Lazy loads of one relationship from one call site within one unit of work (a Session:
    a web request, a job, or a test's own session), so loads in separate requests of one test
    are never summed. Parents are told apart by identity key, which, unlike ``id()``, is not
    reused when an object is garbage collected."""

    relationship: str  # "ResearchItem.prompts"
    parent_class: str
    attribute: str
    collection: bool
    site_key: SiteKey | None
    first_seq: int
    statement: Statement  # the SELECT it sent (the first one, for the message)
    target_class: str = ""
    count: int = 0
    parents: set[Hashable] = field(default_factory=set)
    seqs: list[int] = field(default_factory=list)
    callers: dict[SiteKey | None, int] = field(default_factory=dict)  # loads per caller
    hook: str | None = None  # the library whose event hook made the loads, if one did

    @property
    def loader(self) -> str:
        """The eager load that replaces these loads: one query for all the parents."""
        return "selectinload" if self.collection else "joinedload"

    @property
    def fix(self) -> str:
        """The query that loads the parents with this relationship."""
        return f"select({self.parent_class}).options({self.loader}({self.relationship}))"


class PendingLazyLoad(NamedTuple):
    """A lazy load the ORM is about to send (seen by ``do_orm_execute``): recorded when its
    SELECT reaches the cursor, which tells its connection, unit of work and SQL."""

    relationship: str
    parent_class: str
    attribute: str
    collection: bool
    target_class: str
    path: CallPath
    parent: Hashable


class LogEntry(NamedTuple):
    """One recorded run, as ``dbguard.queries`` and messages read it."""

    seq: int
    statement: Statement
    text: str
    site: CallSite | None
    executemany: bool
    batch_size: int
    parameters: Any  # kept only when small (see ``kept_parameters``)
    phase: str


class Record:
    """Everything captured for one test. Counters and the log are updated under ``lock``:
    statements may come from several threads."""

    def __init__(self, nodeid: str, max_recorded: int, finder: CallSiteFinder) -> None:
        self.nodeid = nodeid
        self.max_recorded = max_recorded
        self.finder = finder
        self.total = 0
        self.phase = "setup"
        self.statements: dict[str, Statement] = {}  # by text, several texts may share one
        self.by_shape: dict[str, Statement] = {}
        self.log: list[tuple[int, Statement, str, SiteKey | None, bool, int, Any, str]] = []
        self.lazy_loads: dict[tuple[str, SiteKey | None, int], LazyLoads] = {}
        self.nplusone_allowed: list[list[int]] = []  # [first seq, end seq] of allowance blocks
        self.lock = threading.Lock()
        # Units of work. Each connection's open units, innermost last: a root transaction,
        # and a savepoint within it (a request's Session joining the test's transaction); a
        # Session beginning on a connection starts another. ``dbguard.unit_of_work()`` blocks
        # override them all while open (``marked``). Keyed by id(): a new Connection object
        # always begins (a new unit) before it sends anything.
        self.units: dict[int, list[int]] = {}
        self.marked: list[int] = []
        self._next_unit = itertools.count(1).__next__
        # Lazy loads announced by do_orm_execute and not yet sent, by thread or greenlet.
        self.awaiting: dict[Hashable, PendingLazyLoad] = {}

    def unit_of(self, connection_id: int) -> int:
        """The unit of work a statement sent now on this connection belongs to."""
        if self.marked:
            return self.marked[-1]
        units = self.units.get(connection_id)
        return units[-1] if units else 0

    def begin_unit(self, connection_id: int) -> None:
        """A root transaction began or ended on the connection."""
        self.units[connection_id] = [self._next_unit()]

    def push_unit(self, connection_id: int) -> None:
        """A savepoint began: its statements are a unit until it is released or rolled back."""
        self.units.setdefault(connection_id, [0]).append(self._next_unit())

    def pop_unit(self, connection_id: int) -> None:
        """A savepoint ended: back to the enclosing unit."""
        units = self.units.get(connection_id)
        if units and len(units) > 1:
            units.pop()

    def replace_unit(self, connection_id: int) -> None:
        """A Session began on the connection (a request joining the test's transaction)."""
        units = self.units.setdefault(connection_id, [0])
        units[-1] = self._next_unit()

    def mark_unit(self) -> int:
        """``dbguard.unit_of_work()`` entered: everything until it ends is one unit."""
        unit = self._next_unit()
        self.marked.append(unit)
        return unit

    def statement_for(self, text: str, shape: Shape, dialect: str) -> Statement:
        """The slow path: the first run of a statement text in this test (under ``lock``)."""
        statement = self.by_shape.get(shape.fingerprint)
        if statement is None:
            statement = Statement(text, shape, dialect, self.total, self.finder)
            self.by_shape[shape.fingerprint] = statement
        if len(self.statements) < _MAX_TEXTS_PER_TEST:
            self.statements[text] = statement
        return statement

    def site(self, key: SiteKey | None) -> CallSite | None:
        """The call site a sampled run's key stands for."""
        return None if key is None else self.finder.name(key)

    def entries(self, start: int = 0, end: int | None = None) -> list[LogEntry]:
        """Logged runs with ``start <= seq < end``, in order (a run's number is taken and its
        row appended under the lock: the log is in order already)."""
        with self.lock:
            rows = list(self.log)
        return [
            LogEntry(seq, statement, text, self.site(key), *rest)
            for seq, statement, text, key, *rest in rows
            if seq >= start and (end is None or seq < end)
        ]

    def shapes(self) -> Iterator[Statement]:
        return iter(list(self.by_shape.values()))

    def is_nplusone_allowed(self, seq: int) -> bool:
        if not self.nplusone_allowed:  # most tests: no allowance block
            return False
        return any(start <= seq < end for start, end in self.nplusone_allowed)

    def add_lazy_load(
        self, pending: PendingLazyLoad, seq: int, unit: int, statement: Statement
    ) -> None:
        site_key = pending.path.site
        key = (pending.relationship, site_key, unit)
        with self.lock:
            loads = self.lazy_loads.get(key)
            if loads is None:
                loads = LazyLoads(
                    pending.relationship,
                    pending.parent_class,
                    pending.attribute,
                    pending.collection,
                    site_key,
                    seq,
                    statement,
                    pending.target_class,
                    hook=pending.path.hook,
                )
                self.lazy_loads[key] = loads
            loads.count += 1
            if len(loads.parents) < _MAX_PARENTS:
                loads.parents.add(pending.parent)
            if len(loads.seqs) < _MAX_PARENTS:
                loads.seqs.append(seq)
            caller = pending.path.caller
            loads.callers[caller] = loads.callers.get(caller, 0) + 1
