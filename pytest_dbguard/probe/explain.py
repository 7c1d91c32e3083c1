"""EXPLAIN steps of the probe: the statement's plan, its plan with trial indexes, and its
EXPLAIN ANALYZE. Each returns EXPLAIN (FORMAT JSON)'s ``Plan``; none judges it.

Plans are *generic* where the server can make one: the statement is prepared on the server
(``PREPARE dbguard_plan AS <statement>``) and explained with ``plan_cache_mode =
force_generic_plan`` and NULL parameters, so that no parameter value reaches the server, the
plan or a file, and the plan does not depend on which test ran the statement first. A statement
the server cannot prepare that way (a parameter whose type nothing tells) is explained with
its parameters, exactly as SQLAlchemy handed them to the driver.

The statement's text is always sent alone, after the EXPLAIN or PREPARE keyword, never joined
to another statement: a trailing ``-- comment`` cannot swallow anything, and the extended
protocol (psycopg, asyncpg) refuses a text of several statements (which capture never hands
over anyway).
"""

from __future__ import annotations

from typing import Any

from .catalog import literal
from .driver import plan_of
from .profile import EXPLAIN_OPTIONS
from .session import Probe

_PREPARED = "dbguard_plan"
_NEW_CATALOG_ROWS = """
DO $dbguard$
DECLARE
  leaf regclass;
BEGIN
  FOR leaf IN
    SELECT t FROM unnest(ARRAY[{tables}]::regclass[]) AS t
     WHERE NOT EXISTS (SELECT 1 FROM pg_partition_tree(t) AS p WHERE p.level > 0)
    UNION ALL
    SELECT p.relid FROM unnest(ARRAY[{tables}]::regclass[]) AS t, pg_partition_tree(t) AS p
     WHERE p.isleaf AND p.level > 0
  LOOP
    EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = true)', leaf);
  END LOOP;
END
$dbguard$"""


def _new_catalog_rows(tables: list[str]) -> str:
    return _NEW_CATALOG_ROWS.format(tables=", ".join(literal(table) for table in tables))


_ANALYZE_SETTINGS = "SELECT set_config('transaction_read_only', 'on', true)"


class Statement:
    """A statement to explain, as the driver sent it."""

    def __init__(self, probe: Probe, text: str, parameters: Any) -> None:
        self.probe = probe
        self.text = text
        self.parameters = parameters
        self.generic: bool | None = None  # decided by the first plan
        self._parameter_count = 0

    def plan(self) -> dict[str, Any]:
        """The plan under the probe's settings: generic where possible."""
        if self.generic is None:
            self.generic = self._prepare()
        with self.probe.step():
            return self._plan_in_step()

    def custom_plan(self) -> dict[str, Any]:
        """The plan for the test's own parameter values."""
        with self.probe.step():
            rows = self.probe.rows(f"EXPLAIN ({EXPLAIN_OPTIONS}) {self.text}", self.parameters)
        return plan_of(rows)

    def _prepare(self) -> bool:
        text, self._parameter_count = self.probe.driver.positional(self.text, self.parameters)
        try:
            with self.probe.step():
                self.probe.rows(f"PREPARE {_PREPARED} AS {text}")
        except Exception:  # noqa: BLE001 (any driver's error: the statement cannot be prepared, so it is not examined)
            return False
        self.probe.prepared.append(_PREPARED)
        return True

    def plan_with_indexes(self, create_statements: list[str], tables: list[str]) -> dict[str, Any]:
        """The plan with trial indexes, created in a step that is always rolled back (the
        prepared statement is planned again: DDL on its tables invalidates it).

        CREATE INDEX writes the table's row counts into its ``pg_class`` row *in place*, which
        no rollback undoes. So the step first gives each table (each partition of a
        partitioned one) a new version of that row, with a reloption set inside the step: the
        in-place write lands on that version, which the rollback discards."""
        with self.probe.step(keep=False):
            self.probe.execute(_new_catalog_rows(tables))
            self.probe.execute("; ".join(create_statements))
            return self._plan_in_step()

    def _plan_in_step(self) -> dict[str, Any]:
        if self.generic:
            nulls = ", ".join(["NULL"] * self._parameter_count)
            execute = f"EXECUTE {_PREPARED}({nulls})" if nulls else f"EXECUTE {_PREPARED}"
            return plan_of(self.probe.rows(f"EXPLAIN ({EXPLAIN_OPTIONS}) {execute}"))
        sql = f"EXPLAIN ({EXPLAIN_OPTIONS}) {self.text}"
        return plan_of(self.probe.rows(sql, self.parameters))

    def analyzed_plan(self) -> dict[str, Any]:
        """EXPLAIN ANALYZE with the test's values, in a read-only step that is rolled back.
        The caller runs it only for statements that cannot act (see ``rules.reads``)."""
        with self.probe.step(keep=False):
            self.probe.execute(_ANALYZE_SETTINGS)
            sql = f"EXPLAIN (ANALYZE, {EXPLAIN_OPTIONS}) {self.text}"
            return plan_of(self.probe.rows(sql, self.parameters))
