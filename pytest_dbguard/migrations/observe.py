"""What the server did during a migration, read from PostgreSQL's catalog on the migration's
own connection.

Before and after each statement a revision sends, one catalog query (``STATE_QUERY``) returns
the state of every user table: its relfilenode (a new one means the table was rewritten), its
columns, constraints and indexes, plus the relation locks the migration's transaction holds
(``pg_locks`` for its own backend: a lock is kept until the transaction ends, so what a
statement took is what is held after it and was not before) and its ``lock_timeout``. Runs in
the child process that drives Alembic (see ``runner.py``); everything it records is plain data.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from . import schema_diff

# Tables of the user's schemas (not the catalogs, not TOAST or temporary schemas), without the
# Alembic version table, which every revision writes.
_USER_TABLES = """
    c.relkind IN ('r', 'p')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
    AND c.relname <> 'alembic_version'
"""

STATE_QUERY = f"""
SELECT json_build_object(
  'lock_timeout', current_setting('lock_timeout'),
  'tables', COALESCE((
    SELECT json_object_agg(c.oid::text, json_build_object(
      'name', c.oid::regclass::text,
      'relfilenode', c.relfilenode,
      'columns', COALESCE((
        SELECT json_object_agg(a.attnum::text, json_build_object(
          'name', a.attname,
          'type', format_type(a.atttypid, a.atttypmod),
          'notnull', a.attnotnull,
          'default', pg_get_expr(d.adbin, d.adrelid)))
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{{}}'),
      'constraints', COALESCE((
        SELECT json_object_agg(co.conname, json_build_object(
          'type', co.contype,
          'definition', pg_get_constraintdef(co.oid),
          'validated', co.convalidated))
        FROM pg_constraint co
        WHERE co.conrelid = c.oid AND co.contype <> 'n'), '{{}}'),
      'indexes', COALESCE((
        SELECT json_object_agg(ic.relname, json_build_object(
          'definition', pg_get_indexdef(i.indexrelid),
          'valid', i.indisvalid))
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid), '{{}}')))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_USER_TABLES}), '{{}}'),
  'types', COALESCE((
    SELECT json_object_agg(t.oid::regtype::text, ARRAY(
      SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
      ORDER BY e.enumsortorder))
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype = 'e' AND n.nspname NOT IN ('pg_catalog', 'information_schema')), '{{}}'),
  'locks', COALESCE((
    SELECT json_agg(json_build_object('relation', l.relation::text, 'mode', l.mode))
    FROM pg_locks l
    WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted), '[]'))
"""

# pg_locks names the modes in CamelCase; PostgreSQL's documentation and LOCK TABLE spell them so.
LOCK_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}


def read_state(dbapi_connection: Any) -> dict[str, Any]:
    """The catalog state seen by this connection (inside its transaction, if one is open)."""
    cursor = dbapi_connection.cursor()
    try:
        try:  # psycopg 3: never a server-side prepared statement
            cursor.execute(STATE_QUERY, prepare=False)
        except TypeError:
            cursor.execute(STATE_QUERY)
        value = cursor.fetchone()[0]
    finally:
        cursor.close()
    return value if isinstance(value, dict) else dict(json.loads(value))


class ForeignDatabase(RuntimeError):
    """env.py connected to a database that is not the one pytest-dbguard created."""


@dataclass
class _Pending:
    sql: str
    site: dict[str, Any]
    in_transaction: bool
    before: dict[str, Any] | None


@dataclass
class Recorder:
    """SQLAlchemy listeners, installed for the whole run of the child process.

    While ``guard`` is set, any statement sent to another database than ``database`` is stopped
    before it runs (env.py ignored the URL it was given: its migrations must not touch the
    user's own database). While ``revision_path`` is set, every statement sent from that
    revision file is observed: the catalog state before and after it, and its error.
    """

    database: str
    guard: bool = False
    observing: bool = False
    revision_path: str | None = None
    display_path: str = ""
    statements: list[dict[str, Any]] = field(default_factory=list)
    # The plugin's own failures while observing: never an error of the user's migration.
    internal_errors: list[str] = field(default_factory=list)
    last_sent: dict[str, Any] | None = None  # the revision's last statement, observed or not
    _pending: dict[int, _Pending] = field(default_factory=dict)  # by connection
    _sites: dict[types.CodeType, bool] = field(default_factory=dict)

    def install(self) -> Callable[[], None]:
        listeners: list[tuple[str, Callable[..., Any]]] = [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._error),
        ]
        for name, listener in listeners:
            event.listen(Engine, name, listener)

        def uninstall() -> None:
            for name, listener in listeners:
                event.remove(Engine, name, listener)

        return uninstall

    def start(self, revision_path: str, display_path: str) -> None:
        """Observe the statements sent from this revision file (until ``stop``); errors of its
        downgrade and second upgrade are located in it too."""
        self.revision_path = os.path.realpath(revision_path)
        self.display_path = display_path
        self.observing = True
        self.statements = []
        self.last_sent = None
        self._sites.clear()

    def stop(self) -> list[dict[str, Any]]:
        self.observing = False
        self._pending.clear()
        return self.statements

    def site(self) -> dict[str, Any] | None:
        """The line of the revision file that sent the statement being executed."""
        frame: types.FrameType | None = sys._getframe(2)  # noqa: SLF001 (CPython's documented fast frame access)
        while frame is not None:
            site = self.site_of(frame.f_code, frame.f_lineno)
            if site is not None:
                return site
            frame = frame.f_back
        return None

    def site_of(self, code: types.CodeType, line: int) -> dict[str, Any] | None:
        """``{"file", "line"}`` if this code is the revision file's."""
        if self.revision_path is None:
            return None
        inside = self._sites.get(code)
        if inside is None:
            inside = os.path.realpath(code.co_filename) == self.revision_path
            self._sites[code] = inside
        return {"file": self.display_path, "line": line} if inside else None

    def _before(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if self.guard and conn.engine.url.database != self.database:
            raise ForeignDatabase(
                f"env.py connected to the database {conn.engine.url.database!r}, not to the "
                "fresh database pytest-dbguard created for the check"
            )
        if not self.observing:
            return
        site = self.site()
        if site is None:
            return
        self.last_sent = {"sql": statement, "site": site}
        dbapi_connection = conn.connection.dbapi_connection
        in_transaction = not getattr(dbapi_connection, "autocommit", False)
        try:
            before = read_state(dbapi_connection)
        except Exception:  # noqa: BLE001 (an aborted transaction: the statement will fail on its own)
            before = None
        self._pending[id(conn)] = _Pending(statement, site, in_transaction, before)

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 (a failure of the observer is reported, never raised into the revision)
            self.internal_errors.append(traceback.format_exc())

    def _after(
        self,
        conn: Connection,
        _cursor: Any,
        _statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        pending = self._pending.pop(id(conn), None)
        if pending is None:
            return

        def observe() -> None:
            after = read_state(conn.connection.dbapi_connection)
            self.statements.append(observation(pending, after, None))

        self._guarded(observe)

    def _error(self, context: Any) -> None:
        pending = self._pending.pop(id(context.connection), None)
        if pending is None:
            return
        error = context.original_exception
        failure = {
            "sqlstate": getattr(error, "sqlstate", None) or getattr(error, "pgcode", None),
            "message": first_line(error),
        }
        self._guarded(lambda: self.statements.append(observation(pending, None, failure)))


def observation(
    pending: _Pending, after: dict[str, Any] | None, error: dict[str, Any] | None
) -> dict[str, Any]:
    """One statement as the rules read it: the SQL, the revision line that sent it, the locks
    on user tables held after it (and those it took), ``lock_timeout`` when it started, the
    changes of the catalog it made, and its error."""
    before = pending.before or {"tables": {}, "locks": [], "lock_timeout": "?"}
    names = {oid: table["name"] for oid, table in before["tables"].items()}
    if after is not None:
        names.update({oid: table["name"] for oid, table in after["tables"].items()})
    held = _locks(before, names)
    now = _locks(after, names) if after is not None else {}
    return {
        "sql": pending.sql,
        "site": pending.site,
        "in_transaction": pending.in_transaction,
        "lock_timeout": before["lock_timeout"],
        "locks": {table: sorted(modes) for table, modes in sorted(now.items())},
        "new_locks": {
            table: sorted(modes - held.get(table, set()))
            for table, modes in sorted(now.items())
            if modes - held.get(table, set())
        },
        "changes": schema_diff.statement_changes(before, after) if after is not None else {},
        "error": error,
    }


def _locks(state: dict[str, Any], names: dict[str, str]) -> dict[str, set[str]]:
    """Lock modes by table name, on the user tables only (the catalog query's own locks on
    pg_class and friends are left out)."""
    locks: dict[str, set[str]] = {}
    for lock in state["locks"]:
        name = names.get(str(lock["relation"]))
        if name is not None:
            locks.setdefault(name, set()).add(LOCK_NAMES.get(lock["mode"], lock["mode"]))
    return locks


def first_line(error: BaseException) -> str:
    """The first line of an error's message, without the driver's SQL echo."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
