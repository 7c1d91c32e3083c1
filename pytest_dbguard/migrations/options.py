"""The migration checks' options: each ``--dbguard-<name>`` is also the ini option
``dbguard_<name>`` (the command line wins); bad values are usage errors naming the option."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pytest

_MODES = ("fail", "warn", "off")

# (name, help, default, command-line option?, switch?)
_OPTIONS = (
    (
        "migrations",
        "Check the Alembic migrations: one test per revision (upgrade, downgrade, upgrade "
        "again on a fresh database holding rows, and what each statement locks and rewrites), "
        "and one for a single head.",
        "false",
        True,
        True,
    ),
    (
        "alembic_config",
        "The Alembic configuration: alembic.ini, or pyproject.toml with [tool.alembic] "
        "(default alembic.ini, relative to the rootdir).",
        "alembic.ini",
        True,
        False,
    ),
    (
        "migrations_url",
        "A PostgreSQL server where the checks create (and drop) a fresh database: a "
        "SQLAlchemy URL, or $VARIABLE to read it from the environment.",
        "",
        True,
        False,
    ),
    (
        "migrations_safety",
        "Findings on locks, rewrites, NOT NULL, constraints and drops: fail, warn or off "
        "(default fail).",
        "fail",
        True,
        False,
    ),
    (
        "migrations_squawk",
        "squawk's rules on the offline SQL: auto (warn if the squawk executable is installed), "
        "fail, warn or off (default auto).",
        "auto",
        True,
        False,
    ),
    (
        "migrations_start_after",
        "A revision: safety findings are reported for the revisions after it only (those "
        "before are deployed already); round trips are checked for all.",
        "",
        True,
        False,
    ),
    (
        "migrations_seed",
        "module:function called with (connection, revision) before each revision, to give the "
        "tables realistic rows; the tables it leaves empty get rows of pytest-dbguard's own.",
        "",
        False,
        False,
    ),
    (
        "migrations_url_env",
        "An environment variable env.py reads its database URL from (when it does not use "
        "sqlalchemy.url): the checks set it to their fresh database.",
        "",
        False,
        False,
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbguard", "database performance checks (pytest-dbguard)")
    for name, help_text, default, cli, switch in _OPTIONS:
        dest = f"dbguard_{name}"
        if cli:
            flag = "--dbguard-" + name.replace("_", "-")
            if switch:
                group.addoption(flag, action="store_true", default=None, dest=dest, help=help_text)
            else:
                group.addoption(flag, default=None, dest=dest, metavar=name.upper(), help=help_text)
        parser.addini(dest, help_text, default=default)


@dataclass(frozen=True)
class MigrationSettings:
    enabled: bool
    alembic_config: str
    url: str  # may be "", checked when a check needs it
    safety: str
    squawk: str  # "fail", "warn" or "off" once the executable is looked for
    squawk_executable: str
    start_after: str
    seed: str
    url_env: str


def where(name: str, cli: bool = True) -> str:
    ini = f"ini dbguard_{name}"
    return f"--dbguard-{name.replace('_', '-')} / {ini}" if cli else ini


def _raw(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"dbguard_{name}", default=None)
    if value is None:
        value = config.getini(f"dbguard_{name}")
    return str(value).strip()


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value.lower() not in choices:
        raise pytest.UsageError(f"{where(name)}: {value!r} is not one of {', '.join(choices)}")
    return value.lower()


def _boolean(name: str, value: str) -> bool:
    text = value.lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise pytest.UsageError(f"{where(name)}: {value!r} is not true or false")


def expand_url(value: str, name: str = "migrations_url") -> str:
    """``$DATABASE_URL`` or ``${DATABASE_URL}`` read from the environment."""
    expanded = os.path.expandvars(value)
    missing = re.search(r"\$\{?(\w+)", expanded)
    if missing:
        raise pytest.UsageError(f"{where(name)}: the environment variable {missing[1]} is not set")
    return expanded


def read(config: pytest.Config, squawk_on_path: str | None) -> MigrationSettings:
    squawk = _choice("migrations_squawk", _raw(config, "migrations_squawk"), ("auto", *_MODES))
    if squawk == "auto":
        squawk = "warn" if squawk_on_path else "off"
    elif squawk != "off" and not squawk_on_path:
        raise pytest.UsageError(
            f"{where('migrations_squawk')}: {squawk!r} needs the squawk executable "
            "(pip install squawk-cli)"
        )
    seed = _raw(config, "migrations_seed")
    if seed and not re.fullmatch(r"[\w.]+:\w+", seed):
        raise pytest.UsageError(
            f"{where('migrations_seed', cli=False)}: {seed!r} is not module:function"
        )
    url_env = _raw(config, "migrations_url_env")
    if url_env and not re.fullmatch(r"[A-Za-z_]\w*", url_env):
        raise pytest.UsageError(
            f"{where('migrations_url_env', cli=False)}: {url_env!r} is not a variable name"
        )
    return MigrationSettings(
        enabled=_boolean("migrations", _raw(config, "migrations")),
        alembic_config=_raw(config, "alembic_config") or "alembic.ini",
        url=_raw(config, "migrations_url"),
        safety=_choice("migrations_safety", _raw(config, "migrations_safety"), _MODES),
        squawk=squawk,
        squawk_executable=(squawk_on_path or "") if squawk != "off" else "",
        start_after=_raw(config, "migrations_start_after"),
        seed=seed,
        url_env=url_env,
    )
