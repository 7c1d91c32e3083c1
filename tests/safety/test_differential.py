"""pytest-dbguard's first promise, tested from the outside: a test passes or fails exactly as it
would without the plugin, leaves the database exactly as it would, and golden files are never
lost. Each case in cases/ runs with and without the plugin, each on a fresh database, on each
of its drivers; see README.md."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest
from safety_harness import (
    Case,
    Databases,
    GroupKey,
    GroupRuns,
    Member,
    dialect_of,
    differences,
    group_key,
    load_cases,
)

CASES = load_cases()
PARAMETERS = [
    pytest.param(case, driver, id=f"{case.name}-{driver}")
    for case in CASES
    for driver in case.drivers
]


@pytest.fixture(scope="session")
def group_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GroupRuns:
    """The groups of the cases this session selected (one pair of inner sessions each)."""
    scratch = tmp_path_factory.mktemp("safety-sqlite")
    databases = Databases(os.environ["DBGUARD_TEST_DATABASE_URL"], Path(scratch))
    selected: list[Member] = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "case" in callspec.params:
            selected.append((callspec.params["case"], callspec.params["driver"]))
    mysql_problem = None
    if any(dialect_of(driver) == "mysql" for _, driver in selected):
        mysql_problem = databases.mysql_problem()
    members: dict[GroupKey, list[Member]] = defaultdict(list)
    for case, driver in selected:
        if not (dialect_of(driver) == "mysql" and mysql_problem):
            members[group_key(case, driver)].append((case, driver))
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    shared = shared / "dbguard-safety"
    shared.mkdir(exist_ok=True)
    return GroupRuns(shared, databases, dict(members), mysql_problem)


@pytest.mark.parametrize(("case", "driver"), PARAMETERS)
def test_the_plugin_changes_nothing(case: Case, driver: str, group_runs: GroupRuns) -> None:
    if dialect_of(driver) == "mysql" and group_runs.mysql_problem:
        pytest.skip(group_runs.mysql_problem)
    key = group_key(case, driver)
    found = differences(case, driver, key, group_runs.result(key))
    known = case.known_difference(driver)
    if known is not None:
        if not found:
            pytest.fail(
                f"{case.name} on {driver} no longer differs ({known}): remove it from the "
                "case's 'differs'"
            )
        pytest.xfail(f"{known}: {found[0].splitlines()[0]}")
    assert not found, f"{case.name} on {driver}:\n\n" + "\n\n".join(found)
