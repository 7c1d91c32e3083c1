"""Capture: SQLAlchemy event listeners that record each statement into the current test's record.

The cursor listener runs for every statement of the suite, so its common path is a few
dictionary look-ups under the record's lock: statement shapes are cached by statement text, and
the stack is walked (for call sites) only for the first runs of each statement in a test, which
is all the N+1 verdict needs. Nothing here talks to the database: the first successful run of
each statement shape in a test is handed to the ``examiner`` (set by the plugin), which does.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session

from .callsites import CallPath, CallSiteFinder
from .record import (
    PendingLazyLoad,
    Record,
    Sample,
    ShapeCache,
    Statement,
    kept_parameters,
    parameters_key,
    plain_items,
    scalar_key,
)

try:  # async sessions run each call in a greenlet of its own: pending lazy loads are per greenlet
    from greenlet import getcurrent as _current_task
except ImportError:  # pragma: no cover - greenlet is installed with SQLAlchemy on most platforms
    _current_task = threading.get_ident

#: Called with (record, statement, connection, parameters, executemany) after the first
#: successful run of a statement shape in a test.
Examiner = Callable[[Statement, Connection, Any, bool], None]


class Capture:
    """The session's listeners; ``active`` is the record of the test now running."""

    def __init__(self, finder: CallSiteFinder, threshold: int, all_call_sites: bool) -> None:
        self.finder = finder
        self.shapes = ShapeCache()
        self.active: Record | None = None
        self.examiner: Examiner | None = None
        self.engines: list[weakref.ref[Engine]] = []  # PostgreSQL engines seen, first first
        # The first runs of each statement are sampled (call site, unit, parameters): enough
        # for the N+1 rules and exact per-site counts in most tests, and a bounded cost for a
        # statement run thousands of times.
        self._max_samples = max(16, 4 * threshold)
        self._all_call_sites = all_call_sites
        self._listeners = (
            (Engine, "before_cursor_execute", self._on_cursor_execute),
            (Engine, "after_cursor_execute", self._on_cursor_executed),
            (Engine, "begin", self._on_begin),
            (Engine, "commit", self._on_commit),
            (Engine, "rollback", self._on_rollback),
            (Engine, "savepoint", self._on_savepoint),
            (Engine, "release_savepoint", self._on_savepoint_end),
            (Engine, "rollback_savepoint", self._on_savepoint_end),
            (Session, "after_begin", self._on_session_begin),
            (Session, "do_orm_execute", self._on_orm_execute),
        )

    def install(self) -> None:
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)

    def uninstall(self) -> None:
        for target, name, listener in self._listeners:
            if event.contains(target, name, listener):
                event.remove(target, name, listener)

    def _on_cursor_execute(
        self,
        conn: Connection | None,
        _cursor: Any,
        text: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        record = self.active
        if record is None:
            return
        statement = record.statements.get(text)
        shape = self.shapes.get(text) if statement is None else statement.shape
        sampled = statement is None or statement.sampling or self._all_call_sites
        path = self.finder.find_path() if sampled and shape.kind != "transaction" else None
        site = path.site if path is not None else None
        with record.lock:
            seq = record.total
            record.total = seq + 1
            if statement is None:
                dialect = conn.dialect.name if conn is not None else ""
                statement = record.statement_for(text, shape, dialect)
                if dialect == "postgresql" and conn is not None:
                    self._remember_engine(conn.engine)
            statement.count += 1
            sampling = statement.sampling and path is not None
            logged = seq < record.max_recorded
            plain = plain_items(parameters) if (sampling or logged) and not executemany else None
            if sampling:
                assert path is not None
                sample = self._sample(seq, path, text, parameters, plain, context, executemany)
                sample.unit = record.unit_of(id(conn))
                self._keep(statement, sample)
            elif statement.sampling and shape.kind == "transaction":
                statement.sampling = False
            if logged:
                batch = len(parameters) if executemany and parameters else 1
                kept = parameters if plain is not None else kept_parameters(parameters, executemany)
                record.log.append(
                    (seq, statement, text, site, executemany, batch, kept, record.phase)
                )
        if record.awaiting and shape.kind == "select":
            self._record_lazy_load(record, statement, seq, conn, context)

    def _sample(
        self,
        seq: int,
        path: CallPath,
        text: str,
        parameters: Any,
        plain: tuple[Any, ...] | None,
        context: Any,
        executemany: bool,
    ) -> Sample:
        options = getattr(context, "execution_options", None) or {}
        key = scalar = None
        if not executemany:
            key = hash((text, plain)) if plain is not None else parameters_key(text, parameters)
            # the text's own shape: texts of one statement differ in their IN lists' names
            scalar = scalar_key(parameters, self.shapes.get(text).list_slots)
        return Sample(
            seq,
            path.site,
            key,
            _orm_load(options),
            caller=path.caller,
            hook=path.hook,
            scalar_key=scalar,
            at=time.perf_counter(),
        )

    def _keep(self, statement: Statement, sample: Sample) -> None:
        statement.samples.append(sample)
        statement.sites[sample.site_key] = statement.sites.get(sample.site_key, 0) + 1
        if len(statement.samples) >= self._max_samples:
            statement.sampling = False

    def _record_lazy_load(
        self, record: Record, statement: Statement, seq: int, conn: Connection | None, context: Any
    ) -> None:
        """The SELECT of a lazy load announced by ``do_orm_execute`` in this thread or
        greenlet: the load is recorded with its own SQL and the unit of work it ran in."""
        pending = record.awaiting.pop(_task(), None)
        options = getattr(context, "execution_options", None) or {}
        if pending is not None and _orm_load(options) == "lazy":
            record.add_lazy_load(pending, seq, record.unit_of(id(conn)), statement)

    def _on_cursor_executed(
        self,
        conn: Connection,
        _cursor: Any,
        text: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        """After a statement ran without error: the first run of its shape in this test goes to
        the examiner (its plan, in the transaction state the statement left)."""
        record = self.active
        examiner = self.examiner
        if record is None or examiner is None:
            return
        statement = record.statements.get(text)
        if statement is None or statement.examined:
            return
        statement.examined = True
        examiner(statement, conn, parameters, executemany)

    def _remember_engine(self, engine: Engine) -> None:
        if not any(reference() is engine for reference in self.engines):
            self.engines.append(weakref.ref(engine))
            del self.engines[:-8]  # a few are enough: the schema check takes the first alive

    # Units of work: a root transaction's begin and end, a savepoint's begin and end, and a
    # Session beginning on a connection are boundaries (see ``Record.units``).

    def _on_begin(self, conn: Connection) -> None:
        if (record := self.active) is not None:
            record.begin_unit(id(conn))
        self._on_cursor_execute(conn, None, "BEGIN", (), None, False)

    def _on_commit(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "COMMIT", (), None, False)
        if (record := self.active) is not None:
            record.begin_unit(id(conn))

    def _on_rollback(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "ROLLBACK", (), None, False)
        if (record := self.active) is not None:
            record.begin_unit(id(conn))

    def _on_savepoint(self, conn: Connection, _name: str) -> None:
        if (record := self.active) is not None:
            record.push_unit(id(conn))

    def _on_savepoint_end(self, conn: Connection, _name: str, _context: Any) -> None:
        if (record := self.active) is not None:
            record.pop_unit(id(conn))

    def _on_session_begin(self, _session: Session, transaction: Any, conn: Connection) -> None:
        if (record := self.active) is not None and not transaction.nested:
            record.replace_unit(id(conn))

    def _on_orm_execute(self, state: ORMExecuteState) -> None:
        record = self.active
        if record is None or not state.is_select:  # only SELECTs carry load options
            return
        parent = state.lazy_loaded_from
        if parent is None:
            return
        prop = getattr(state.loader_strategy_path, "prop", None)
        if prop is None:
            return
        parent_class = parent.class_.__name__
        record.awaiting[_task()] = PendingLazyLoad(
            f"{parent_class}.{prop.key}",
            parent_class,
            prop.key,
            bool(prop.uselist),
            prop.mapper.class_.__name__,
            self.finder.find_path(),
            parent.key if parent.key is not None else id(parent),
        )


def _task() -> Hashable:
    task: Hashable = _current_task()
    return task


def _orm_load(execution_options: Any) -> str | None:
    """Which ORM loader sent a statement, if one did: these are judged by the ORM rules."""
    load_options = execution_options.get("_sa_orm_load_options")
    if load_options is None:
        return None
    if getattr(load_options, "_lazy_loaded_from", None) is not None:
        return "lazy"
    if getattr(load_options, "_refresh_state", None) is not None:
        return "refresh"
    return None
