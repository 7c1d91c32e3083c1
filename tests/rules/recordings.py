"""The EXPLAIN plans recorded by ``scripts/record_plans.py`` (see ``scripts/README.md``).

Each ``plans/pg<major>/<case>.json`` holds a case's ``indexed`` plan (generic, the probe's
INDEXED profile), its ``as_is`` plan (the case's parameters bound), and for cases with trial
indexes the ``indexed_with`` plan, with the catalog facts of the tables read. ``Recording`` turns
those facts into what the plugin gives the rules (``outcome/examine.py`` from
``probe/catalog.py``): the key columns of every index by name, and a ``TableFacts`` per table.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_dbguard.rules.candidates import Candidate, TableFacts, candidates_for
from pytest_dbguard.rules.reads import WholeRead, whole_reads

PLANS = Path(__file__).parent / "plans"
VERSIONS = (15, 16, 18)
CASES = tuple(sorted(path.stem for path in (PLANS / "pg18").glob("*.json")))
# The recording databases keep the default search_path: "$user", public.
CURRENT_SCHEMA = "public"
INDEXED, AS_IS, INDEXED_WITH = "indexed", "as_is", "indexed_with"


def _unquote_regclass(text: str) -> tuple[str | None, str]:
    """``events`` -> (None, "events"); ``archive."Big Events"`` -> ("archive", "Big Events")."""
    parts: list[str] = []
    current, quoted, index = "", False, 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"' and text[index + 1 : index + 2] == '"':
                current += '"'
                index += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"':
            quoted = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    parts.append(current)
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _key_columns(index: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(
        None if column["expression"] else column["name"]
        for column in index["columns"]
        if column["key"]
    )


@dataclass(frozen=True)
class Recording:
    case: str
    major: int
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"pg{self.major}/{self.case}"

    @property
    def notes(self) -> str:
        """The case's ``expect`` line (a human reading of what a rule should conclude)."""
        return str(self.data["notes"])

    def plan(self, which: str = INDEXED) -> dict[str, Any]:
        plan: dict[str, Any] = self.data["plans"][which]
        return plan

    def has(self, which: str) -> bool:
        return which in self.data["plans"]

    def plans(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.data["plans"].items()

    def _indexes(self, which: str) -> list[dict[str, Any]]:
        key = "indexes_with" if which == INDEXED_WITH else "indexes"
        indexes: list[dict[str, Any]] = self.data[key]
        return indexes

    def index_columns(self, which: str = INDEXED) -> dict[str, tuple[str | None, ...]]:
        """Index name -> key columns, an expression as None (as ``probe/catalog.py`` reads
        them: the attribute name of an expression column is NULL; INCLUDE columns left out)."""
        return {index["index"]: _key_columns(index) for index in self._indexes(which)}

    def facts(self, which: str = INDEXED) -> dict[tuple[str, str], TableFacts]:
        """``TableFacts`` per table read, as ``outcome/examine.py`` builds them: only valid,
        non-partial indexes count as serving a table; a partition knows its parent."""
        indexes = self._indexes(which)
        found: dict[tuple[str, str], TableFacts] = {}
        for table in self.data["tables"]:
            schema, name = table["schema"], table["table"]
            usable = tuple(
                _key_columns(index)
                for index in indexes
                if (index["schema"], index["table"]) == (schema, name) and not index["partial"]
            )
            root = None
            if table["partition_of"]:
                parent_schema, parent = _unquote_regclass(table["partition_of"])
                root = (parent_schema or schema, parent)
            kind = {"partitioned table": "p", "table": "r", "partition": "r"}.get(
                table["kind"], table["kind"]
            )
            columns = {column["name"]: column["type"] for column in table["columns"]}
            found[(schema, name)] = TableFacts(schema, name, kind, columns, usable, root)
        return found

    def reads(self, which: str = INDEXED) -> list[WholeRead]:
        """The rule's whole-table reads of the plan (computed once: the rules are pure)."""
        return list(_reads(self.case, self.major, which))

    def candidates(self, which: str = INDEXED) -> list[Candidate]:
        """The rule's candidate indexes, given its whole reads (computed once)."""
        return list(_candidates(self.case, self.major, which))


@functools.cache
def recording(case: str, major: int) -> Recording:
    path = PLANS / f"pg{major}" / f"{case}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Recording(case, major, data)


@functools.cache
def _reads(case: str, major: int, which: str) -> tuple[WholeRead, ...]:
    rec = recording(case, major)
    return tuple(whole_reads(rec.plan(which), rec.index_columns(which)))


@functools.cache
def _candidates(case: str, major: int, which: str) -> tuple[Candidate, ...]:
    rec = recording(case, major)
    reads = _reads(case, major, which)
    return tuple(candidates_for(rec.plan(which), reads, rec.facts(which), CURRENT_SCHEMA))


def recordings_of(major: int) -> list[Recording]:
    """Every case recorded on PostgreSQL ``major``."""
    return [recording(case, major) for case in CASES]


def all_recordings() -> list[Recording]:
    return [recording(case, major) for major in VERSIONS for case in CASES]
