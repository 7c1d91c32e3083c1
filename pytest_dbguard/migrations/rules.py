"""Pure functions: what the runner observed for one revision -> findings, each with its safe
pattern.

The input is one revision's entry of the runner's result (plain data, see ``runner.py``): the
tables that existed and held rows before it, and for each statement of its upgrade the SQL, the
revision line that sent it, the locks held after it, ``lock_timeout`` and the catalog changes
it made (``schema_diff.statement_changes``); then its errors and the schema differences of its
round trip. Nothing here talks to a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from . import patterns

# Weakest to strongest (PostgreSQL's table-level lock modes).
LOCK_ORDER = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
# Modes that stop the application's writes (or reads): waiting for one, with no lock_timeout,
# queues every later query on the table behind the migration.
BLOCKING = frozenset(LOCK_ORDER[4:])
_BLOCKS = {
    "ACCESS EXCLUSIVE": "every read and write of {table} waits",
    "EXCLUSIVE": "every write of {table} waits (reads go on)",
    "SHARE ROW EXCLUSIVE": "every INSERT, UPDATE and DELETE on {table} waits",
    "SHARE": "every INSERT, UPDATE and DELETE on {table} waits",
}

SAFETY_RULES = (
    "index_without_concurrently",
    "not_null_without_default",
    "volatile_default",
    "set_not_null_scan",
    "constraint_without_not_valid",
    "drop_column",
    "drop_table",
    "type_change_rewrite",
    "table_rewrite",
    "no_lock_timeout",
)
ROUND_TRIP_RULES = (
    "upgrade_fails",
    "irreversible",
    "downgrade_fails",
    "downgrade_schema",
    "reupgrade_fails",
    "reupgrade_schema",
)


@dataclass(frozen=True)
class MigrationFinding:
    rule: str
    verdict: str  # "fail" or "warn"
    revision: str
    file: str
    line: int | None
    diagnosis: str  # one line
    statement: str | None = None
    table: str | None = None
    lock: str | None = None
    evidence: tuple[str, ...] = ()
    fix: str = ""

    @property
    def where(self) -> str:
        line = f":{self.line}" if self.line else ""
        return f"{self.file}{line} (revision {self.revision})"

    def message(self) -> str:
        """Diagnosis, evidence (where, the statement, the lock and its table), fix."""
        lines = [self.diagnosis, f"  at {self.where}"]
        if self.statement:
            lines.append(f"  {self.statement}")
        if self.lock and self.table:
            blocks = _BLOCKS.get(self.lock, "").format(table=self.table)
            lines.append(f"  Lock: {self.lock} on {self.table}" + (f": {blocks}" if blocks else ""))
        lines += [f"  {line}" for line in self.evidence]
        if self.fix:
            fix = self.fix.splitlines()
            lines.append(f"Fix: {fix[0]}")
            lines += [f"  {line}" for line in fix[1:]]
        return "\n".join(lines)

    def as_data(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "verdict": self.verdict,
            "revision": self.revision,
            "file": self.file,
            "line": self.line,
            "diagnosis": self.diagnosis,
            "statement": self.statement,
            "table": self.table,
            "lock": self.lock,
            "evidence": list(self.evidence),
            "fix": self.fix,
        }


@dataclass
class _Revision:
    """What the rules need of a revision entry."""

    revision: str
    file: str
    before: frozenset[str]  # the tables that existed before the revision
    with_rows: frozenset[str]  # ... and those holding rows
    verdict: str
    findings: list[MigrationFinding] = field(default_factory=list)

    def add(self, rule: str, diagnosis: str, site: dict[str, Any] | None, **more: Any) -> None:
        line = site["line"] if site else None
        self.findings.append(
            MigrationFinding(rule, self.verdict, self.revision, self.file, line, diagnosis, **more)
        )


def shorten(sql: str, limit: int = 400) -> str:
    """One line, for messages."""
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def strongest(modes: Iterable[str]) -> str | None:
    ranked = [mode for mode in LOCK_ORDER if mode in set(modes)]
    return ranked[-1] if ranked else None


def safety_findings(entry: dict[str, Any], verdict: str = "fail") -> list[MigrationFinding]:
    """The observed safety findings of one revision's upgrade."""
    revision = _Revision(
        entry["revision"],
        entry["file"],
        frozenset(entry.get("tables_before", ())),
        frozenset(entry.get("tables_with_rows", ())),
        verdict,
    )
    for statement in entry.get("statements", ()):
        _statement_findings(revision, statement)
    _lock_timeout(revision, entry.get("statements", ()))
    return revision.findings


def _statement_findings(revision: _Revision, statement: dict[str, Any]) -> None:
    first = len(revision.findings)
    _observed_findings(revision, statement)
    for index in range(first, len(revision.findings)):
        finding = revision.findings[index]
        note = _earlier_lock(statement, finding.table, finding.lock)
        if note:
            revision.findings[index] = replace(finding, evidence=(*finding.evidence, note))


def _earlier_lock(statement: dict[str, Any], table: str | None, lock: str | None) -> str:
    """When the lock held on the table was taken by an earlier statement of the transaction
    (this statement runs under it all the same), say so."""
    if not table or not lock or not statement["in_transaction"]:
        return ""
    asked = strongest(statement["new_locks"].get(table, ()))
    if asked == lock or table not in statement["locks"]:
        return ""
    return (
        f"{lock} on {table} was taken by an earlier statement of the migration's transaction, "
        "and is held until it commits" + (f" (this statement asked for {asked})" if asked else "")
    )


def _observed_findings(revision: _Revision, statement: dict[str, Any]) -> None:
    changes = statement["changes"]
    site = statement["site"]
    sql = shorten(statement["sql"])
    rewritten = {item["table"] for item in changes.get("rewritten_tables", ())}
    explained: set[str] = set()  # rewritten tables a more precise finding explains

    def lock_on(table: str) -> str | None:
        return strongest(statement["locks"].get(table, ()))

    error = statement.get("error")
    if error and error.get("sqlstate") == "23502" and _ADD_COLUMN.search(statement["sql"]):
        table = _altered_table(statement["sql"])
        column = _added_column(statement["sql"])
        revision.add(
            "not_null_without_default",
            f"ADD COLUMN {column} NOT NULL without a default fails on {table}, a table that "
            "holds data",
            site,
            statement=sql,
            table=table,
            lock="ACCESS EXCLUSIVE",
            evidence=(f"PostgreSQL: {error['message']}",),
            fix=patterns.not_null_fix(table, column),
        )
    for added in changes.get("added_columns", ()):
        table = added["table"]
        if table not in revision.before:
            continue
        if table in rewritten and added["default"] is not None:
            explained.add(table)
            revision.add(
                "volatile_default",
                f"ADD COLUMN {added['column']} with a volatile default rewrote {table}",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                evidence=(
                    f"DEFAULT {added['default']} gives each row its own value: PostgreSQL "
                    "rewrote every row (a new relfilenode), holding the lock throughout",
                ),
                fix=patterns.volatile_default_fix(table, added["column"], added["default"]),
            )
        elif added["notnull"] and added["default"] is None:
            revision.add(
                "not_null_without_default",
                f"ADD COLUMN {added['column']} NOT NULL without a default on {table}: it only "
                "passed because the table was empty, and fails on a table that holds data",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                fix=patterns.not_null_fix(table, added["column"]),
            )
    for index in changes.get("added_indexes", ()):
        table = index["table"]
        if table in revision.before and not _CONCURRENTLY.search(statement["sql"]):
            revision.add(
                "index_without_concurrently",
                f"{_index_kind(statement['sql'])} without CONCURRENTLY on {table}, an existing "
                "table",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                evidence=(
                    "the lock is held until the index is built, and until the "
                    "migration's transaction ends",
                )
                if statement["in_transaction"]
                else (),
                fix=patterns.index_fix(
                    table, index["name"], index["definition"], _index_kind(statement["sql"])
                ),
            )
    for change in changes.get("not_null_set", ()):
        table = change["table"]
        if table in revision.before and not change["proven"]:
            revision.add(
                "set_not_null_scan",
                f"SET NOT NULL on {table}.{change['column']} without a validated CHECK: "
                "PostgreSQL reads the whole table under its lock",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                fix=patterns.set_not_null_fix(table, change["column"]),
            )
    for constraint in changes.get("added_constraints", ()):
        table = constraint["table"]
        if (
            table in revision.before
            and constraint["kind"] in ("foreign key", "check")
            and constraint["validated"]
        ):
            referenced = _referenced_table(constraint["definition"])
            evidence = [f"{constraint['definition']} was validated at once, reading every row"]
            if referenced and referenced in statement["locks"]:
                evidence.append(f"also {lock_on(referenced)} on {referenced}, the referenced table")
            revision.add(
                "constraint_without_not_valid",
                f"{constraint['kind'].upper()} {constraint['name']} added to {table} "
                "without NOT VALID",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                evidence=tuple(evidence),
                fix=patterns.not_valid_fix(table, constraint),
            )
    for kind in ("column", "table"):
        for dropped in changes.get(f"dropped_{kind}s", ()):
            table = dropped["table"]
            if table in revision.with_rows:
                name = f"{table}.{dropped['column']}" if kind == "column" else table
                revision.add(
                    f"drop_{kind}",
                    f"DROP {kind.upper()} {name}: the {kind} held data",
                    site,
                    statement=sql,
                    table=table,
                    lock=lock_on(table),
                    fix=patterns.drop_fix(kind),
                )
    for change in changes.get("type_changes", ()):
        table = change["table"]
        if table in rewritten and table in revision.before:
            explained.add(table)
            revision.add(
                "type_change_rewrite",
                f"{table}.{change['column']} changed type {change['old']} -> {change['new']}, "
                f"which rewrote {table} and its indexes",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                fix=patterns.type_change_fix(change),
            )
    for table in sorted(rewritten - explained):
        if table in revision.before:
            revision.add(
                "table_rewrite",
                f"{table} was rewritten (a new relfilenode)",
                site,
                statement=sql,
                table=table,
                lock=lock_on(table),
                fix="change the table in steps that do not rewrite it (a new column or table, "
                "filled in batches), or run it in a maintenance window",
            )


def _lock_timeout(revision: _Revision, statements: Iterable[dict[str, Any]]) -> None:
    """One finding per revision: its first statement that took a lock blocking the
    application's queries on a table that existed, while lock_timeout was 0."""
    waiting = []
    for statement in statements:
        if statement["lock_timeout"] not in ("0", "0ms"):
            continue
        for table, modes in statement["new_locks"].items():
            blocking = strongest(set(modes) & BLOCKING)
            if table in revision.before and blocking:
                waiting.append((statement, table, blocking))
    if not waiting:
        return
    statement, table, mode = waiting[0]
    evidence: tuple[str, ...] = ()
    if len(waiting) > 1:
        evidence = (f"and {len(waiting) - 1} more lock(s) of this revision taken without it",)
    revision.add(
        "no_lock_timeout",
        f"No lock_timeout: the revision waits as long as it takes for its {mode} lock on {table}",
        statement["site"],
        statement=shorten(statement["sql"]),
        table=table,
        lock=mode,
        evidence=(
            "while it waits behind a long transaction, every query on the table queues behind it",
            *evidence,
        ),
        fix=patterns.LOCK_TIMEOUT,
    )


def round_trip_findings(entry: dict[str, Any], source: str = "") -> list[MigrationFinding]:
    """The upgrade, downgrade and second upgrade of one revision, and the schemas they gave."""
    revision = _Revision(entry["revision"], entry["file"], frozenset(), frozenset(), "fail")
    down = entry.get("down_revision") or "base"
    error = entry.get("upgrade_error")
    if error and not _explained_upgrade_error(entry):
        on_data = entry.get("applies_without_data")
        revision.add(
            "upgrade_fails",
            "The upgrade fails "
            + ("on a database that holds data" if on_data else "even on an empty database")
            + f": {error['message']}",
            error["site"],
            statement=shorten(error["statement"]) if error.get("statement") else None,
            evidence=()
            if on_data
            else (
                f"upgraded to {down} first, then to this revision in a run of its own, as a "
                "production database is, release by release",
            ),
            fix="make the revision work on the data production holds (existing rows, NULLs, "
            "duplicates, values in an older format)"
            if on_data
            else "",
        )
    error = entry.get("downgrade_error")
    if error and error["type"] == "NotImplementedError":
        reason = "" if error["message"] == "NotImplementedError" else f": {error['message']}"
        revision.add(
            "irreversible",
            f"The revision cannot be reversed: downgrade() raises NotImplementedError{reason}",
            error["site"] or _definition_site(source, "downgrade"),
            fix="write a downgrade that gives back the schema of revision "
            f"{down} (keep what is needed to restore the data, e.g. the old column, until the "
            "next release), or, if it truly cannot be undone, say so on that line: "
            "# dbguard: allow irreversible",
        )
    elif error:
        revision.add(
            "downgrade_fails",
            f"The downgrade to {down} fails: {error['message']}",
            error["site"] or _definition_site(source, "downgrade"),
            statement=shorten(error["statement"]) if error.get("statement") else None,
            fix="make downgrade() undo exactly what upgrade() did, in reverse order",
        )
    differences = entry.get("downgrade_differences") or []
    if differences:
        revision.add(
            "downgrade_schema",
            f"The downgrade does not give back the schema of revision {down}",
            _definition_site(source, "downgrade"),
            evidence=tuple(differences),
            fix="make downgrade() undo everything upgrade() created or changed (Alembic's "
            "drop_column and drop_table leave enum types and sequences behind)",
        )
    error = entry.get("reupgrade_error")
    if error:
        revision.add(
            "reupgrade_fails",
            f"Upgrading again after the downgrade fails: {error['message']}",
            error["site"],
            statement=shorten(error["statement"]) if error.get("statement") else None,
            fix="the downgrade left something behind that the upgrade creates: drop it in "
            "downgrade()",
        )
    differences = entry.get("reupgrade_differences") or []
    if differences:
        revision.add(
            "reupgrade_schema",
            "Upgrading again after the downgrade gives another schema than the first upgrade",
            _definition_site(source, "upgrade"),
            evidence=tuple(differences),
            fix="make downgrade() undo exactly what upgrade() did",
        )
    return revision.findings


def squawk_findings(entry: dict[str, Any], verdict: str) -> list[MigrationFinding]:
    result = entry.get("squawk") or {}
    return [
        MigrationFinding(
            f"squawk:{item['rule']}",
            verdict,
            entry["revision"],
            entry["file"],
            item["site"]["line"],
            f"squawk {item['rule']}: {item['message']}",
            statement=shorten(item["sql"]),
            fix=(item["help"] + "\n" if item["help"] else "")
            + f"(https://squawkhq.com/docs/{item['rule']})",
        )
        for item in result.get("findings", ())
    ]


_ALLOW = re.compile(r"#\s*dbguard:\s*allow\b\s*([\w:, -]*)")


def allowed(source_lines: list[str], line: int | None) -> frozenset[str]:
    """Rules waived on this line: ``# dbguard: allow drop_column, no_lock_timeout`` at its end
    or on the line above."""
    if not line:
        return frozenset()
    names: set[str] = set()
    for number in (line, line - 1):
        if 1 <= number <= len(source_lines):
            match = _ALLOW.search(source_lines[number - 1])
            if match:
                names.update(name for name in re.split(r"[\s,]+", match.group(1)) if name)
    return frozenset(names)


def _explained_upgrade_error(entry: dict[str, Any]) -> bool:
    """An upgrade that failed on data for a reason a safety rule names."""
    return any(
        statement.get("error", {})
        and statement["error"].get("sqlstate") == "23502"
        and _ADD_COLUMN.search(statement["sql"])
        for statement in entry.get("statements", ())
    )


def _definition_site(source: str, name: str) -> dict[str, Any] | None:
    for number, text in enumerate(source.splitlines(), start=1):
        if re.match(rf"def\s+{name}\s*\(", text):
            return {"line": number}
    return None


_IDENTIFIER = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_ALTER_TABLE = re.compile(
    rf"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?({_IDENTIFIER}(?:\.{_IDENTIFIER})?)", re.I
)
_ADD_COLUMN = re.compile(rf"\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({_IDENTIFIER})", re.I)
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.I)
_REFERENCES = re.compile(rf"REFERENCES\s+({_IDENTIFIER}(?:\.{_IDENTIFIER})?)", re.I)


def _altered_table(sql: str) -> str:
    match = _ALTER_TABLE.search(sql)
    return match.group(1) if match else "the table"


def _added_column(sql: str) -> str:
    match = _ADD_COLUMN.search(sql)
    return match.group(1) if match else "?"


def _referenced_table(definition: str) -> str | None:
    match = _REFERENCES.search(definition)
    return match.group(1) if match else None


def _index_kind(sql: str) -> str:
    text = " ".join(sql.split()).upper()
    if text.startswith("CREATE UNIQUE INDEX"):
        return "CREATE UNIQUE INDEX"
    if text.startswith("CREATE INDEX"):
        return "CREATE INDEX"
    if "PRIMARY KEY" in text:
        return "ADD PRIMARY KEY (an index build)"
    if "UNIQUE" in text:
        return "ADD UNIQUE (an index build)"
    return "An index build"
