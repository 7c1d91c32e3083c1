"""Capture: SQLAlchemy event listeners that record each statement into the current test's record.

The cursor listener runs for every statement of the suite, so its common path is a few
dictionary look-ups under the record's lock: statement shapes are cached by statement text, and
the stack is walked (for call sites) only for the first runs of each statement in a test, which
is all the N+1 verdict needs. Nothing here talks to the database: the first successful run of
each statement shape in a test is handed to the ``examiner`` (set by the plugin), which does.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session

from .callsites import CallSiteFinder, SiteKey
from .record import Record, Sample, ShapeCache, Statement, kept_parameters, parameters_key

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
        self._sample_limit = threshold
        self._max_samples = 4 * threshold
        self._all_call_sites = all_call_sites
        self._listeners = (
            (Engine, "before_cursor_execute", self._on_cursor_execute),
            (Engine, "after_cursor_execute", self._on_cursor_executed),
            (Engine, "begin", self._on_begin),
            (Engine, "commit", self._on_commit),
            (Engine, "rollback", self._on_rollback),
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
        site = self.finder.find() if sampled and shape.kind != "transaction" else None
        with record.lock:
            seq = record.total
            record.total = seq + 1
            if statement is None:
                dialect = conn.dialect.name if conn is not None else ""
                statement = record.statement_for(text, shape, dialect)
                if dialect == "postgresql" and conn is not None:
                    self._remember_engine(conn.engine)
            statement.count += 1
            if statement.sampling and sampled:
                self._sample(statement, seq, site, text, parameters, context, executemany)
            if seq < record.max_recorded:
                batch = len(parameters) if executemany and parameters else 1
                kept = kept_parameters(parameters, executemany)
                record.log.append(
                    (seq, statement, text, site, executemany, batch, kept, record.phase)
                )

    def _sample(
        self,
        statement: Statement,
        seq: int,
        site: SiteKey | None,
        text: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if statement.shape.kind == "transaction":
            statement.sampling = False
            return
        options = getattr(context, "execution_options", None) or {}
        key = None if executemany else parameters_key(text, parameters)
        statement.samples.append(Sample(seq, site, key, _orm_load(options)))
        runs = statement.sites.get(site, 0) + 1
        statement.sites[site] = runs
        if runs >= self._sample_limit or len(statement.samples) >= self._max_samples:
            statement.sampling = False

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

    def _on_begin(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "BEGIN", (), None, False)

    def _on_commit(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "COMMIT", (), None, False)

    def _on_rollback(self, conn: Connection) -> None:
        self._on_cursor_execute(conn, None, "ROLLBACK", (), None, False)

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
        record.add_lazy_load(
            f"{parent_class}.{prop.key}",
            parent_class,
            prop.key,
            bool(prop.uselist),
            self.finder.find(),
            parent.key if parent.key is not None else id(parent),
            state.session.hash_key,
        )


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
