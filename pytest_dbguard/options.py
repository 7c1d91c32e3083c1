"""Command-line and ini options, read once per session into a frozen ``Settings``.

Every option ``--dbguard-<name>`` is also the ini option ``dbguard_<name>``; the command line
wins. Some settings exist only in the ini file. Bad values are a ``pytest.UsageError`` that
names the option, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .capture.fingerprint import KINDS
from .findings import Mode
from .rules.lints import LINTS

MODES = tuple(str(mode) for mode in Mode)
DEFAULT_COUNTED_KINDS = ("select", "insert", "update", "delete", "ddl", "other")


@dataclass(frozen=True)
class _Option:
    name: str
    help: str
    default: str
    cli: bool = True
    flag: bool = False  # a command-line switch without a value
    ini_type: str = "string"  # "args" for lists; booleans are read as strings, to name bad ones


_OPTIONS = (
    _Option(
        "disable",
        "Turn every check of pytest-dbguard off (nothing is captured or explained); its "
        "markers stay registered, so --strict-markers still accepts them.",
        "false",
        flag=True,
    ),
    _Option("nplusone", "N+1 verdicts: fail, warn or off (default fail).", "fail"),
    _Option(
        "seqscan",
        "Missing indexes on PostgreSQL (a table read in full that an index, proven with a trial "
        "index, would spare): fail, warn or off (default fail).",
        "fail",
    ),
    _Option(
        "allow_seqscan",
        "Tables whose whole-table reads are accepted in every test.",
        "",
        cli=False,
        ini_type="args",
    ),
    _Option(
        "lints",
        "Plan lints (correlated subqueries, cartesian joins, sorts without an index): fail, "
        "warn or off (default warn).",
        "warn",
    ),
    _Option(
        "lint_names",
        "The plan lints to run (default: correlated_subquery cartesian_join sort_without_index).",
        " ".join(LINTS),
        cli=False,
        ini_type="args",
    ),
    _Option(
        "schema",
        "Schema checks, once per session on the first PostgreSQL database the tests use "
        "(unindexed foreign keys, tables without a primary key, redundant indexes): fail, "
        "warn or off (default off).",
        "off",
    ),
    _Option(
        "report",
        "Write a Markdown report of every finding to this file.",
        "",
    ),
    _Option(
        "json",
        "Write the report's data as JSON to this file.",
        "",
    ),
    _Option(
        "analyze",
        "Also EXPLAIN ANALYZE read-only statements, for actual times and rows in the reports "
        "(never in snapshots; never for statements that write).",
        "false",
        flag=True,
    ),
    _Option(
        "plans",
        "Check every test's EXPLAIN plans against its golden snapshot in __dbguard__/.",
        "false",
        flag=True,
    ),
    _Option(
        "plans_as_is",
        "Snapshot the plans PostgreSQL makes for the test data as it is, with estimated costs "
        "and rows (for test databases of production size), instead of indexed plans.",
        "false",
        flag=True,
    ),
    _Option(
        "step_summary",
        "Append the report to the GitHub Actions job summary ($GITHUB_STEP_SUMMARY).",
        "false",
        flag=True,
    ),
    _Option(
        "judge_test_queries",
        "Also judge the statements that test modules and conftest files send themselves "
        "(their own checks of the results) for missing indexes and plan lints.",
        "false",
        cli=False,
    ),
    _Option(
        "update",
        "Write new and changed plan snapshots, remove orphaned ones, and pass.",
        "false",
        flag=True,
    ),
    _Option(
        "plans_postgresql",
        "The PostgreSQL major version the plan snapshots record; on other versions plans "
        "are not checked (for suites run against several versions).",
        "",
    ),
    _Option(
        "cost_tolerance",
        "Allowed relative growth of a plan's estimated total cost (default 0.2 = 20%%).",
        "0.2",
    ),
    _Option(
        "nplusone_threshold",
        "How many runs of one statement shape from one call site in one unit of work, with "
        "different parameters, make an N+1 pattern in Core and text queries; identical runs "
        "this many times are duplicate queries (default 3).",
        "3",
    ),
    _Option("duplicates", "Identical repeated queries: fail, warn or off (default warn).", "warn"),
    _Option(
        "unused_eager_loads",
        "Relationships loaded with selectinload, joinedload or subqueryload that the test never "
        "reads: fail, warn or off (default warn).",
        "warn",
    ),
    _Option(
        "max_queries",
        "A default query budget for every test without a max_queries or num_queries marker.",
        "",
    ),
    _Option(
        "count_kinds",
        "Statement kinds counted against budgets (default: select insert update delete ddl "
        "other; add 'transaction' to count BEGIN, COMMIT, SAVEPOINT ...).",
        " ".join(DEFAULT_COUNTED_KINDS),
        cli=False,
        ini_type="args",
    ),
    _Option(
        "count_setup",
        "Also capture and count statements run by the setup of function-scoped fixtures "
        "(default: the test call only; fixtures of wider scope are never counted).",
        "false",
        cli=False,
    ),
    _Option(
        "show_params",
        "Show bound parameter values in messages (they may be secrets: off by default).",
        "false",
        flag=True,
    ),
    _Option(
        "callsites",
        "'sample' (default) records the call site of the first runs of each statement, enough "
        "for N+1 verdicts; 'all' records it for every statement (slower).",
        "sample",
        cli=False,
    ),
    _Option(
        "library_modules",
        "Modules treated as library code when looking for the user's call site "
        "(for example a repository layer: myapp.db).",
        "",
        cli=False,
        ini_type="args",
    ),
    _Option(
        "user_modules",
        "Modules treated as the user's code even when installed in site-packages.",
        "",
        cli=False,
        ini_type="args",
    ),
    _Option(
        "max_recorded",
        "How many statements per test are kept for messages and dbguard.queries "
        "(counts stay exact beyond it; default 10000).",
        "10000",
        cli=False,
    ),
    _Option(
        "baseline",
        "A baseline file of accepted findings (JSON, committed with the tests): findings it "
        "lists pass silently, new ones fail or warn as usual.",
        "",
    ),
    _Option(
        "baseline_update",
        "Write the baseline file (--dbguard-baseline) from this run's findings, accepting "
        "them: adds new ones, prunes fixed ones, keeps those of tests that did not run.",
        "false",
        flag=True,
    ),
    _Option(
        "sarif",
        "Write the findings as SARIF 2.1.0 to this file (for GitHub code scanning).",
        "",
    ),
    _Option(
        "pr_summary",
        "Write a short Markdown summary for a pull-request comment to this file.",
        "",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbguard", "database performance checks (pytest-dbguard)")
    for option in _OPTIONS:
        ini_name = f"dbguard_{option.name}"
        if option.cli:
            flag = "--dbguard-" + option.name.replace("_", "-")
            if option.flag:
                group.addoption(
                    flag, action="store_true", default=None, dest=ini_name, help=option.help
                )
            else:
                group.addoption(
                    flag,
                    action="store",
                    default=None,
                    dest=ini_name,
                    metavar=option.name.upper(),
                    help=option.help,
                )
        parser.addini(
            ini_name,
            option.help,
            type=option.ini_type,  # type: ignore[arg-type]
            default=_ini_default(option),
        )


def _ini_default(option: _Option) -> Any:
    if option.ini_type == "args":
        return option.default.split()
    return option.default


@dataclass(frozen=True)
class Settings:
    disable: bool
    nplusone: Mode
    seqscan: Mode
    allow_seqscan: frozenset[str]
    plans: bool
    plans_as_is: bool
    update: bool
    cost_tolerance: float
    plans_postgresql: int | None
    lints: Mode
    lint_names: frozenset[str]
    schema: Mode
    report: str
    json: str
    step_summary: bool
    judge_test_queries: bool
    analyze: bool
    nplusone_threshold: int
    duplicates: Mode
    unused_eager_loads: Mode
    max_queries: int | None
    count_kinds: frozenset[str]
    count_setup: bool
    show_params: bool
    callsites: str
    library_modules: tuple[str, ...]
    user_modules: tuple[str, ...]
    max_recorded: int
    baseline: str
    baseline_update: bool
    sarif: str
    pr_summary: str


def _raw(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"dbguard_{name}", default=None)
    if value is None:
        value = config.getini(f"dbguard_{name}")
    return value


_BY_NAME = {option.name: option for option in _OPTIONS}


def _where(name: str) -> str:
    """The option as the user can set it: command line and ini, or ini only."""
    ini = f"ini dbguard_{name}"
    if _BY_NAME[name].cli:
        return f"--dbguard-{name.replace('_', '-')} / {ini}"
    return ini


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise pytest.UsageError(f"{_where(name)}: {value!r} is not one of {', '.join(choices)}")
    return text


def _mode(name: str, value: Any) -> Mode:
    return Mode(_choice(name, value, MODES))


def _integer(name: str, value: Any, minimum: int) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text) or int(text) < minimum:
        raise pytest.UsageError(
            f"{_where(name)}: {value!r} is not a whole number of at least {minimum}"
        )
    return int(text)


def _optional_integer(name: str, value: Any) -> int | None:
    return _integer(name, value, 0) if str(value).strip() else None


def _fraction(name: str, value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = -1.0
    if not 0 <= number < 1000:
        raise pytest.UsageError(
            f"{_where(name)}: {value!r} is not a non-negative fraction (0.2 means 20%)"
        )
    return number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise pytest.UsageError(f"{_where(name)}: {value!r} is not true or false")


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return tuple(word for item in value for word in str(item).replace(",", " ").split())


def parse_kinds(where: str, value: Any) -> frozenset[str]:
    """Validate statement kind names (from an option or a marker's ``kinds=``)."""
    kinds = (value,) if isinstance(value, str) else value
    try:
        names = frozenset(str(kind).strip().lower() for kind in kinds)
    except TypeError:
        raise pytest.UsageError(f"{where}: kinds must be a kind name or a list of them") from None
    unknown = sorted(names - set(KINDS))
    if unknown or not names:
        raise pytest.UsageError(
            f"{where}: unknown statement kind {', '.join(map(repr, unknown)) or '(none)'}; "
            f"known kinds: {', '.join(KINDS)}"
        )
    return names


def parse_lints(where: str, names: Any) -> frozenset[str]:
    """Validate plan lint names (from an option or an ``allow_lint`` marker)."""
    found = frozenset(str(name) for name in names)
    unknown = sorted(found - set(LINTS))
    if unknown:
        raise pytest.UsageError(
            f"{where}: unknown plan lint {', '.join(map(repr, unknown))}; "
            f"known lints: {', '.join(LINTS)}"
        )
    return found


def read_settings(config: pytest.Config) -> Settings:
    read: Callable[[str], Any] = lambda name: _raw(config, name)  # noqa: E731
    return Settings(
        disable=_boolean("disable", read("disable")),
        nplusone=_mode("nplusone", read("nplusone")),
        seqscan=_mode("seqscan", read("seqscan")),
        allow_seqscan=frozenset(_words(read("allow_seqscan"))),
        plans=_boolean("plans", read("plans")),
        plans_as_is=_boolean("plans_as_is", read("plans_as_is")),
        update=_boolean("update", read("update")),
        cost_tolerance=_fraction("cost_tolerance", read("cost_tolerance")),
        plans_postgresql=_optional_integer("plans_postgresql", read("plans_postgresql")),
        lints=_mode("lints", read("lints")),
        lint_names=parse_lints(_where("lint_names"), _words(read("lint_names"))),
        schema=_mode("schema", read("schema")),
        report=str(read("report")).strip(),
        json=str(read("json")).strip(),
        step_summary=_boolean("step_summary", read("step_summary")),
        judge_test_queries=_boolean("judge_test_queries", read("judge_test_queries")),
        analyze=_boolean("analyze", read("analyze")),
        nplusone_threshold=_integer("nplusone_threshold", read("nplusone_threshold"), 2),
        duplicates=_mode("duplicates", read("duplicates")),
        unused_eager_loads=_mode("unused_eager_loads", read("unused_eager_loads")),
        max_queries=_optional_integer("max_queries", str(read("max_queries"))),
        count_kinds=parse_kinds(_where("count_kinds"), _words(read("count_kinds"))),
        count_setup=_boolean("count_setup", read("count_setup")),
        show_params=_boolean("show_params", read("show_params")),
        callsites=_choice("callsites", read("callsites"), ("sample", "all")),
        library_modules=_words(read("library_modules")),
        user_modules=_words(read("user_modules")),
        max_recorded=_integer("max_recorded", read("max_recorded"), 1),
        baseline=str(read("baseline")).strip(),
        baseline_update=_boolean("baseline_update", read("baseline_update")),
        sarif=str(read("sarif")).strip(),
        pr_summary=str(read("pr_summary")).strip(),
    )
