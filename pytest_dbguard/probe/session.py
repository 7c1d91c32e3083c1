"""The probe's transaction protocol: how the plugin's statements run on the test's connection
and leave it exactly as they found it.

- The connection's real state decides (never the driver's autocommit flag alone: a user may
  have sent BEGIN by hand): in a transaction, the probe works inside a SAVEPOINT that is rolled
  back and released; with no transaction open, inside a transaction of its own that is rolled
  back (psycopg and psycopg2 open it themselves outside autocommit mode, as they would for
  the test's next statement); in a failed transaction, or on a busy or closed connection, not
  at all.
- Settings are changed with ``set_config(..., true)`` after the savepoint, so they vanish with
  it. ``lock_timeout`` and ``statement_timeout`` are capped, never raised above what the test
  set: the probe gives up rather than wait behind a lock.
- Each step that may fail runs inside a second savepoint (``step``), so a failed step (a
  statement the server refuses to prepare, a trial index it cannot build) leaves the probe
  usable and its settings in place.
- ANALYZE is never run: it updates ``pg_class`` in place, which no rollback undoes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from .driver import Driver, Rows, State
from .profile import settings_for

_PROBE = "dbguard_probe"
_STEP = "dbguard_step"
# Timeouts the probe accepts at most: it must never make a test wait longer than it would.
_LOCK_TIMEOUT = "1s"
_STATEMENT_TIMEOUT = "10s"


class ProbeUnavailable(Exception):
    """The connection cannot be probed now; the message says why, for the user."""


class StepFailed(Exception):
    """A step of the probe failed on the server; the probe is still usable."""


def _capped(name: str, cap: str) -> str:
    """SQL for the smaller of the test's setting and ``cap`` (0 means no limit)."""
    current = f"current_setting('{name}')"
    return (
        f"set_config('{name}', CASE WHEN {current} <> '0' AND {current}::interval "
        f"< interval '{cap}' THEN {current} ELSE '{cap}' END, true)"
    )


def pin_settings_sql(profile: dict[str, str], server_major: int) -> str:
    settings = settings_for(profile, server_major)
    calls = [f"set_config('{name}', '{value}', true)" for name, value in settings.items()]
    calls += [
        _capped("lock_timeout", _LOCK_TIMEOUT),
        _capped("statement_timeout", _STATEMENT_TIMEOUT),
    ]
    return "SELECT " + ", ".join(calls)


class Probe:
    """An open probe on one connection (see ``open_probe``)."""

    def __init__(self, driver: Driver, server_major: int) -> None:
        self.driver = driver
        self.server_major = server_major
        self.prepared: list[str] = []  # prepared statement names to deallocate at the end

    def rows(self, sql: str, parameters: Any = None) -> Rows:
        return self.driver.rows(sql, parameters)

    def execute(self, script: str) -> None:
        self.driver.execute(script)

    @contextmanager
    def step(self, *, keep: bool = True) -> Iterator[None]:
        """Run a step that may fail; its changes stay only with ``keep`` and success. Errors
        from the server become ``StepFailed`` with the server's message."""
        try:
            yield
        except Exception as error:
            self._rewind()
            raise StepFailed(first_line(error)) from error
        if not keep:
            self._rewind()

    def _rewind(self) -> None:
        # The step savepoint stays defined after ROLLBACK TO: the next step reuses it.
        self.driver.execute(f"ROLLBACK TO SAVEPOINT {_STEP}")


@contextmanager
def open_probe(driver: Driver, profile: dict[str, str]) -> Iterator[Probe]:
    """Open a probe on ``driver``'s connection with ``profile``'s planner settings, and close it
    whatever happens inside. Raises ``ProbeUnavailable`` when the connection cannot be used."""
    state = _usable_state(driver)
    server_major = driver.server_major()
    own_transaction = state is State.IDLE
    if own_transaction:
        opening = [] if driver.begins_implicitly else ["BEGIN"]
        closing = ["ROLLBACK"]
    else:
        opening = [f"SAVEPOINT {_PROBE}"]
        closing = [f"ROLLBACK TO SAVEPOINT {_PROBE}", f"RELEASE SAVEPOINT {_PROBE}"]
    try:
        driver.execute(
            "; ".join([*opening, pin_settings_sql(profile, server_major), f"SAVEPOINT {_STEP}"])
        )
    except Exception as error:  # noqa: BLE001 (any driver's error: the drivers share no base class)
        _give_up(driver, closing, error, "could not open a savepoint: ")
    probe = Probe(driver, server_major)
    try:
        yield probe
    finally:
        _close(driver, closing, probe.prepared)


def read_catalog(driver: Driver, sql: str) -> Rows:
    """One read-only catalog query, whatever the connection's state, in a round trip where the
    driver allows it: its own implicit transaction in autocommit mode, a transaction of its own
    (rolled back) when none is open, a savepoint (released) inside the test's transaction.
    Lighter than a probe: no settings, nothing to undo."""
    state = _usable_state(driver)
    if state is State.IDLE and not driver.begins_implicitly:
        try:
            return driver.rows(sql)
        except Exception as error:  # noqa: BLE001 (any driver's error: the drivers share no base class)
            raise ProbeUnavailable(first_line(error)) from None
    statements, recovery = (
        ([sql, "ROLLBACK"], ["ROLLBACK"])
        if state is State.IDLE
        else (
            [f"SAVEPOINT {_PROBE}", sql, f"RELEASE SAVEPOINT {_PROBE}"],
            [f"ROLLBACK TO SAVEPOINT {_PROBE}", f"RELEASE SAVEPOINT {_PROBE}"],
        )
    )
    try:
        return driver.script_rows(statements)
    except Exception as error:  # noqa: BLE001 (any driver's error: the drivers share no base class)
        _give_up(driver, recovery, error, "")


def _usable_state(driver: Driver) -> State:
    """The connection's state, or ``ProbeUnavailable`` when nothing may be sent on it."""
    state = driver.state()
    if state is State.FAILED:
        raise ProbeUnavailable("the test's transaction is already aborted")
    if state is State.BUSY:
        raise ProbeUnavailable("the connection is closed or busy")
    return state


def _give_up(driver: Driver, recovery: list[str], error: Exception, prefix: str) -> NoReturn:
    """After the probe's first statement failed: undo what it began and say why. In a
    transaction the test's error had already aborted (asyncpg reports it as merely open), the
    probe's savepoint was never made, so there is nothing to undo: rolling back to it would
    only fail again."""
    if "current transaction is aborted" in str(error):
        raise ProbeUnavailable("the test's transaction is already aborted") from None
    driver.execute("; ".join(recovery))
    raise ProbeUnavailable(f"{prefix}{first_line(error)}") from None


def _close(driver: Driver, closing: list[str], prepared: list[str]) -> None:
    """Roll the probe back; then free its prepared statements (DEALLOCATE is not undone by a
    rollback, and must run in a transaction that is not aborted: after the rollback)."""
    driver.execute("; ".join([*closing, *(f"DEALLOCATE {name}" for name in prepared)]))


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
# SQLSTATE classes whose messages quote the values of the statement: data exceptions (22)
# and integrity constraint violations (23).
_VALUE_CLASSES = ("22", "23")


def first_line(error: BaseException) -> str:
    """An error as one line: the server's primary message, without DETAIL (which may hold
    values) and with the quoted values of data errors masked: parameter values may be secrets."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = (primary or str(error).strip() or type(error).__name__).splitlines()[0]
    sqlstate = (
        getattr(diag, "sqlstate", None)
        or getattr(error, "sqlstate", None)
        or getattr(error, "pgcode", None)
        or ""
    )
    if str(sqlstate)[:2] in _VALUE_CLASSES:
        text = _QUOTED.sub(lambda match: match.group()[0] + "?" + match.group()[0], text)
    return text
