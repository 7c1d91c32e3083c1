"""Statement fingerprints: the normalized shape of a SQL statement.

A hand-written scanner rather than a SQL parser (sqlglot): it runs on every new statement
text a suite sends, must never raise on any input (drivers accept SQL that parsers do not),
must stay linear in the length of the text, and only has to recognise tokens (literals,
placeholders, comments, statement separators), not grammar.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

PLACEHOLDER: Final = "?"
COLLAPSED_LIST: Final = "(...)"

# One left-to-right scan: whichever construct starts first wins, so a quote inside a comment
# or a "--" inside a string literal is read correctly.
_TOKENS = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>\b[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)
                |(?:\b[BbXxNn]|\b[Uu]&)?'(?:[^']|'')*(?:'|\Z))
    | (?P<dollar>(?<![\w$])\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$(?:.*?\$(?P=tag)\$|.*\Z))
    | (?P<ident>"(?:[^"]|"")*(?:"|\Z)|`[^`]*(?:`|\Z)|\[[A-Za-z_][^\]]*\])
    | (?P<param>%\([^)]*\)s|%s|(?<![\w$])\$\d+|\?|(?<![:\w]):[A-Za-z_][A-Za-z_0-9]*)
    | (?P<number>(?<![\w.$?])
        (?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
        (?![\w]))
    | (?P<semicolon>;)
    """,
    re.VERBOSE | re.DOTALL,
)
# ``ORDER BY 1`` and ``GROUP BY 2`` name output columns: the number is part of the shape.
_POSITIONAL_REFERENCE = re.compile(
    r"\b(?:ORDER|GROUP)\s+BY\s+(?:\d+(?:\s+(?:ASC|DESC))?(?:\s+NULLS\s+(?:FIRST|LAST))?\s*,\s*)*$",
    re.IGNORECASE,
)
_LOOKBEHIND = 200  # characters read before a number to tell a positional reference
_WHITESPACE = re.compile(r"\s+")
# A placeholder, with the cast some dialects add (``%(id_1)s::INTEGER``, ``?::VARCHAR(?)``).
_ITEM = r"\?(?:\s*::\s*[A-Za-z_]\w*(?: [A-Za-z_]\w*)*(?:\(\?(?:, \?)*\))?(?:\[\])*)?"
_PLACEHOLDER_LIST = re.compile(rf"\(\s*{_ITEM}(?:\s*,\s*{_ITEM})*\s*\)")
_ARRAY_LIST = re.compile(rf"\bARRAY\s*\[\s*{_ITEM}(?:\s*,\s*{_ITEM})*\s*\]", re.IGNORECASE)
_REPEATED_LISTS = re.compile(r"\(\.\.\.\)(?:\s*,\s*\(\.\.\.\))+")
_UNARY_MINUS = re.compile(
    r"((?:^|[-=<>(,+*/%|^~!]|\b(?:AND|OR|WHEN|THEN|ELSE|SELECT|BETWEEN|LIMIT|OFFSET)\b)\s*)"
    r"-\s*\?",
    re.IGNORECASE,
)
_SAVEPOINT_NAME = re.compile(
    r"\b(SAVEPOINT|RELEASE(?:\s+SAVEPOINT)?|ROLLBACK\s+TO(?:\s+SAVEPOINT)?)\s+(?:\"[^\"]*\"|\?|(?!SAVEPOINT\b)\w+)",
    re.IGNORECASE,
)


def _replace_token(match: re.Match[str]) -> str:
    group = match.lastgroup
    if group == "comment":
        return " "
    if group in ("ident", "semicolon"):
        return match.group()
    if group == "number":
        text = match.string
        before = text[max(0, match.start() - _LOOKBEHIND) : match.start()]
        if _POSITIONAL_REFERENCE.search(before):
            return match.group()
    return PLACEHOLDER


def placeholders(sql: str) -> Iterator[re.Match[str]]:
    """The parameter placeholders of ``sql`` in order (their ``param`` group), read with the
    same scan as ``fingerprint``: a ``?`` or ``:name`` inside a string or a comment is none."""
    for match in _TOKENS.finditer(sql):
        if match.group("param") is not None:
            yield match


def is_single_statement(sql: str) -> bool:
    """Whether ``sql`` holds one statement: nothing but comments and semicolons after its first
    top-level semicolon. The plugin never EXPLAINs a text of several statements (EXPLAIN
    would apply to the first and the driver would run the others)."""
    end = _first_semicolon(sql)
    if end == len(sql):
        return True
    return not _TOKENS.sub(_blank_comment_or_semicolon, sql[end + 1 :]).strip()


def _first_semicolon(sql: str) -> int:
    for match in _TOKENS.finditer(sql):
        if match.lastgroup == "semicolon":
            return match.start()
    return len(sql)


def _blank_comment_or_semicolon(match: re.Match[str]) -> str:
    return " " if match.lastgroup in ("comment", "semicolon") else match.group()


def fingerprint(sql: str) -> str:
    """Return the normalized shape of ``sql``.

    Literal values and bound parameters of every DBAPI style become ``?``, lists of them
    (``IN (...)``, multi-row ``VALUES``) collapse to one ``(...)``, savepoint names become
    ``?``, comments go and whitespace collapses. Idempotent, and never raises.
    """
    shape = _TOKENS.sub(_replace_token, sql)
    shape = _WHITESPACE.sub(" ", shape).strip()
    shape = _UNARY_MINUS.sub(r"\1?", shape)
    shape = _PLACEHOLDER_LIST.sub(COLLAPSED_LIST, shape)
    shape = _ARRAY_LIST.sub("ARRAY[...]", shape)
    shape = _REPEATED_LISTS.sub(COLLAPSED_LIST, shape)
    return _SAVEPOINT_NAME.sub(r"\1 ?", shape)


KINDS: Final = ("select", "insert", "update", "delete", "ddl", "transaction", "other")

_KIND_BY_KEYWORD: Final = {
    "SELECT": "select",
    "VALUES": "select",
    "TABLE": "select",
    "INSERT": "insert",
    "UPDATE": "update",
    "DELETE": "delete",
    "CREATE": "ddl",
    "ALTER": "ddl",
    "DROP": "ddl",
    "TRUNCATE": "ddl",
    "COMMENT": "ddl",
    "GRANT": "ddl",
    "REVOKE": "ddl",
    "REINDEX": "ddl",
    "BEGIN": "transaction",
    "START": "transaction",
    "COMMIT": "transaction",
    "END": "transaction",
    "ROLLBACK": "transaction",
    "ABORT": "transaction",
    "SAVEPOINT": "transaction",
    "RELEASE": "transaction",
}
#: The first words of DDL statements (a cheap test before a statement is fingerprinted).
DDL_KEYWORDS: Final = tuple(word for word, kind in _KIND_BY_KEYWORD.items() if kind == "ddl")
_WORD = re.compile(r"[A-Za-z_]+")


def statement_kind(shape: str) -> str:
    """Classify a fingerprint: select, insert, update, delete, ddl, transaction or other."""
    words = _WORD.findall(shape[:200]) if shape else []
    if not words:
        return "other"
    first = words[0].upper()
    if first == "WITH":
        return _kind_after_with(shape)
    if first == "EXPLAIN":
        return "other"
    return _KIND_BY_KEYWORD.get(first, "other")


def _kind_after_with(shape: str) -> str:
    """The kind of ``WITH ... <main statement>``: the first verb outside the CTEs' parentheses."""
    depth = 0
    for match in re.finditer(r"[()]|\b(SELECT|INSERT|UPDATE|DELETE)\b", shape, re.IGNORECASE):
        token = match.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            return _KIND_BY_KEYWORD[token.upper()]
    return "select"


_INTERNAL = re.compile(
    r"\b(?:pg_catalog|information_schema|sqlite_master|sqlite_schema|sqlite_temp_master)\b"
    r"|^\s*(?:PRAGMA|SHOW|SET)\b",
    re.IGNORECASE,
)


def is_internal(shape: str) -> bool:
    """True for catalog and session queries that SQLAlchemy and drivers run themselves
    (reflection, version checks, settings): never an N+1 of the application's."""
    return _INTERNAL.search(shape) is not None
