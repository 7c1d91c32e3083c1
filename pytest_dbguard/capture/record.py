"""What capture records for one test: each statement shape with exact counts, a few sampled
runs with their call sites, the ordered log of runs, and the ORM's lazy loads.

The record is a capture buffer and nothing else: what the plugin concludes from it lives in
the test's outcome (``outcome/``).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .callsites import CallSite, CallSiteFinder, SiteKey
from .fingerprint import fingerprint, is_internal, is_single_statement, statement_kind

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


class ShapeCache:
    def __init__(self) -> None:
        self._shapes: dict[str, Shape] = {}

    def get(self, text: str) -> Shape:
        shape = self._shapes.get(text)
        if shape is None:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape_text = fingerprint(text)
            shape = Shape(
                shape_text,
                statement_kind(shape_text),
                is_internal(shape_text),
                is_single_statement(text),
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
        if isinstance(value, (str, bytes, bytearray, memoryview, list, dict)) and (
            len(value) > _MAX_KEPT_LENGTH
        ):
            return NotKept(f"a {type(value).__name__} of {len(value):,} items")
    return parameters


def parameters_key(text: str, parameters: Any) -> int:
    """A hash that tells runs of one text with other parameter values apart, without keeping
    the values (computed once per sampled run)."""
    return hash((text, _hashable(parameters, 3)))


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
    count: int = 0
    parents: set[Hashable] = field(default_factory=set)
    seqs: list[int] = field(default_factory=list)


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
        """Logged runs with ``start <= seq < end``, in order."""
        with self.lock:
            rows = sorted(self.log, key=lambda row: row[0])
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
        self,
        relationship: str,
        parent_class: str,
        attribute: str,
        collection: bool,
        site_key: SiteKey | None,
        parent: Hashable,
        unit: int,
    ) -> None:
        with self.lock:
            loads = self.lazy_loads.get((relationship, site_key, unit))
            if loads is None:
                loads = LazyLoads(
                    relationship, parent_class, attribute, collection, site_key, self.total
                )
                self.lazy_loads[(relationship, site_key, unit)] = loads
            loads.count += 1
            if len(loads.parents) < _MAX_PARENTS:
                loads.parents.add(parent)
            if len(loads.seqs) < _MAX_PARENTS:
                loads.seqs.append(self.total)
