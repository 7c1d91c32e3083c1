"""pytest wiring of the migration checks: options, the ``--dbguard-migrations`` items, the
``dbguard_migrations`` fixture, findings carried with the test reports (pytest-xdist sends them
to the controller) for the reports.

Loaded by ``pytest_dbguard.plugin`` (``pytest_plugins``), so ``-p no:dbguard`` disables it too.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import pytest

from ..outcome import state
from . import items as items_module
from . import options
from .report import COLLECTED as _COLLECTED
from .report import PAYLOAD_ATTRIBUTE as _PAYLOAD
from .report import migration_findings_as_data
from .session import FOUND, DBGuardMigrations, SessionChecks
from .squawk import executable as squawk_executable
from .walks import WalkError

_CHECKS = pytest.StashKey[SessionChecks]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(trylast=True)  # after the main plugin's: its settings are read
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", items_module.MARKER)
    settings = options.read(config, squawk_executable())
    disabled = config.stash[state.SETTINGS].disable  # --dbguard-disable: these checks too
    if disabled:
        settings = replace(settings, enabled=False)
    config.stash[_CHECKS] = SessionChecks(settings, config.rootpath, disabled)
    config.stash[_COLLECTED] = {}
    config.pluginmanager.register(_Reporting(config), "dbguard-migrations-reporting")


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect, which apply to these too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    checks = config.stash[_CHECKS]
    if checks.settings.enabled:
        items[:0] = items_module.collect(session, checks)


@pytest.fixture(scope="session")
def dbguard_alembic_config(pytestconfig: pytest.Config) -> str:
    """The Alembic configuration the ``dbguard_migrations`` fixture checks (override it in a
    conftest.py; default: --dbguard-alembic-config / ini dbguard_alembic_config)."""
    return pytestconfig.stash[_CHECKS].settings.alembic_config


@pytest.fixture(scope="session")
def dbguard_migrations_url(pytestconfig: pytest.Config) -> str:
    """A PostgreSQL server URL the checks create their fresh database on (override it in a
    conftest.py; default: --dbguard-migrations-url / ini dbguard_migrations_url)."""
    return options.expand_url(pytestconfig.stash[_CHECKS].settings.url)


@pytest.fixture(scope="session")
def dbguard_migrations_seed(pytestconfig: pytest.Config) -> str:
    """``module:function`` giving the tables realistic rows before each revision (default:
    ini dbguard_migrations_seed)."""
    return pytestconfig.stash[_CHECKS].settings.seed


@pytest.fixture
def dbguard_migrations(
    request: pytest.FixtureRequest,
    dbguard_alembic_config: str,
    dbguard_migrations_url: str,
    dbguard_migrations_seed: str,
) -> DBGuardMigrations:
    """The migration checks, revision by revision: ``dbguard_migrations.check("0004")``."""
    checks = request.config.stash[_CHECKS]
    if checks.disabled:
        pytest.skip("pytest-dbguard's checks are off (--dbguard-disable / ini dbguard_disable)")
    try:
        target = checks.target(
            dbguard_alembic_config,
            dbguard_migrations_url,
            dbguard_migrations_seed,
            checks.settings.url_env,
        )
    except WalkError as error:
        pytest.fail(str(error), pytrace=False)
    return DBGuardMigrations(checks, target, request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    found = item.stash.get(FOUND, None)
    if found and call.when == "call":
        setattr(report, _PAYLOAD, [finding.as_data() for finding in found])
    return report


class _Reporting:
    """Collects the findings from the reports, wherever the tests ran (the pytest-xdist
    controller gets the workers' reports), for the terminal summary and the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, _PAYLOAD, None)
        if payload is None or hasattr(self.config, "workerinput"):
            return  # nothing, or a pytest-xdist worker: its controller collects
        collected = self.config.stash[_COLLECTED]
        for finding in payload:
            key = "|".join(
                str(finding[name])
                for name in ("revision", "file", "line", "rule", "table", "diagnosis")
            )
            collected[key] = finding

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        data = migration_findings_as_data(self.config)
        if not data:
            return
        terminalreporter.write_sep("=", "dbguard migrations")
        terminalreporter.write_line(f"{len(data)} migration finding(s)")
        for item in data:
            where = f"{item['file']}:{item['line']}" if item["line"] else item["file"]
            terminalreporter.write_line(f"  {item['verdict'].upper()} {where}: {item['diagnosis']}")
