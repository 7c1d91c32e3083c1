"""Golden plan snapshots: lifecycle, diffs, costs, versions, broken files, orphans."""

from __future__ import annotations

import pytest
from _helpers import break_fsync, snapshot_files

LIST_ITEMS = """
import pytest
from sqlalchemy import text

def test_items_of_a_user(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT id, title FROM items WHERE user_id = :u"), {"u": 2}).all()
        conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": 2}).all()

@pytest.mark.parametrize("user", [1, 3])
def test_parametrized(engine, user):
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM items WHERE user_id = :u"), {"u": user}).scalar()
"""


@pytest.fixture(autouse=True)
def enough_rows_for_index_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBGUARD_USERS", "300")


def test_lifecycle_missing_update_pass_change_update(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    missing = plan_app.runpytest("--dbguard-plans")
    missing.assert_outcomes(failed=3)
    missing.stdout.fnmatch_lines(
        [
            "No plan snapshot for this test: run pytest --dbguard-update to write "
            "__dbguard__/test_list/test_items_of_a_user.plan (2 statements)"
        ]
    )

    updated = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    updated.assert_outcomes(passed=3)
    updated.stdout.fnmatch_lines(
        [
            "dbguard: wrote 3 plan snapshot(s):",
            "  __dbguard__/test_list/test_items_of_a_user.plan",
            "  __dbguard__/test_list/test_parametrized[1].plan",
            "  __dbguard__/test_list/test_parametrized[3].plan",
        ]
    )
    first = snapshot_files(plan_app.path)
    text = first["__dbguard__/test_list/test_items_of_a_user.plan"].decode()
    assert text.startswith("# pytest-dbguard plan snapshot\n# format: 1\n# postgresql: "), text
    assert "# test: test_list.py::test_items_of_a_user\n" in text
    assert "statement 1, ran 1 time:\n  SELECT id, title FROM items WHERE user_id = ?\n" in text
    assert "Index Cond: (user_id = ?)" in text
    assert str(plan_app.path) not in text and "'2'" not in text

    plan_app.runpytest("--dbguard-plans").assert_outcomes(passed=3)
    again = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    again.assert_outcomes(passed=3)
    again.stdout.no_fnmatch_line("*wrote*")
    assert snapshot_files(plan_app.path) == first

    monkeypatch.setenv("DBGUARD_DROP_INDEXES", "ix_items_user_id")
    changed = plan_app.runpytest("--dbguard-plans", "--dbguard-seqscan=off")
    changed.assert_outcomes(failed=3)
    changed.stdout.fnmatch_lines(
        [
            "Plans changed against __dbguard__/test_list/test_items_of_a_user.plan",
            "--- __dbguard__/test_list/test_items_of_a_user.plan (snapshot)",
            "+++ this run",
            "@@ *",
            " statement 1, ran 1 time:",
            "   SELECT id, title FROM items WHERE user_id = ?",
            "-  -> Bitmap Heap Scan on items",
            "-       Recheck Cond: (user_id = ?)",
            "-       -> Bitmap Index Scan using ix_items_user_id",
            "-            Index Cond: (user_id = ?)",
            "+  -> Seq Scan on items",
            "+       Filter: (user_id = ?)",
            " statement 2, ran 1 time:",
            "If the new plans are intended, accept them with --dbguard-update.",
        ]
    )
    plan_app.runpytest(
        "--dbguard-plans", "--dbguard-update", "--dbguard-seqscan=off"
    ).assert_outcomes(passed=3)
    plan_app.runpytest("--dbguard-plans", "--dbguard-seqscan=off").assert_outcomes(passed=3)
    assert (
        "Seq Scan on items"
        in (plan_app.path / "__dbguard__/test_list/test_items_of_a_user.plan").read_text()
    )


def test_cost_regression_fails_and_improvement_notes(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_app.makepyfile(
        test_costs="""
        from sqlalchemy import text

        def test_everything(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM items")).all()
        """
    )
    monkeypatch.setenv("DBGUARD_USERS", "100")
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=1)
    monkeypatch.setenv("DBGUARD_USERS", "1000")
    grown = plan_app.runpytest("--dbguard-plans")
    grown.assert_outcomes(failed=1)
    grown.stdout.fnmatch_lines(
        [
            "Cost regression in __dbguard__/test_costs/test_everything.plan, statement 1: SELECT * FROM items",
            "  estimated total cost * -> * (+*%), more than the 20% tolerance (--dbguard-cost-tolerance)",
        ]
    )
    plan_app.runpytest("--dbguard-plans", "--dbguard-cost-tolerance=100").assert_outcomes(passed=1)
    monkeypatch.setenv("DBGUARD_USERS", "10")
    shrunk = plan_app.runpytest("--dbguard-plans")
    shrunk.assert_outcomes(passed=1, warnings=1)
    shrunk.stdout.fnmatch_lines(
        [
            "*DBGuardWarning: Cost improved in __dbguard__/test_costs/test_everything.plan, statement 1*",
            "*estimated total cost * -> * (-*%): record it with --dbguard-update",
        ]
    )


def test_snapshot_from_another_postgresql_version(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / "__dbguard__/test_list/test_items_of_a_user.plan"
    path.write_text(path.read_text().replace("# postgresql: ", "# postgresql: 9", 1))
    result = plan_app.runpytest("--dbguard-plans")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "The plan snapshot __dbguard__/test_list/test_items_of_a_user.plan was taken on "
            "PostgreSQL 9*; this server runs PostgreSQL *, whose planner makes other plans.*"
        ]
    )
    result.stdout.no_fnmatch_line("*Plans changed*")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda text: text.replace("Index Cond", "Index Condition", 1),
            "__dbguard__/test_list/test_items_of_a_user.plan:11: unknown plan property 'Index Condition'",
        ),
        (
            lambda text: text.replace("statement 2, ran 1 time:", "statement two:", 1),
            "__dbguard__/test_list/test_items_of_a_user.plan:13: expected 'statement 2, ran N times:'",
        ),
        (
            lambda text: text.replace("# format: 1", "# format: 7", 1),
            "__dbguard__/test_list/test_items_of_a_user.plan:2: written in snapshot format 7 by a newer pytest-dbguard; this version reads format 1: upgrade pytest-dbguard",
        ),
        (
            lambda text: "\x00garbage" + text,
            "__dbguard__/test_list/test_items_of_a_user.plan:1: not a pytest-dbguard plan snapshot*",
        ),
        (
            lambda text: text.replace("  -> ", "     -> ", 1),
            "__dbguard__/test_list/test_items_of_a_user.plan:8: a plan node is not indented by a multiple of 5 spaces",
        ),
    ],
)
def test_broken_snapshots_name_the_file_and_line(
    plan_app: pytest.Pytester, edit: object, message: str
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / "__dbguard__/test_list/test_items_of_a_user.plan"
    original = path.read_text()
    broken = edit(original)  # type: ignore[operator]
    path.write_text(broken)
    result = plan_app.runpytest("--dbguard-plans")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    assert path.read_text() == broken  # a check never rewrites a file
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    assert path.read_text() == original


def test_orphans_are_removed_only_from_modules_that_ran_completely(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    plan_app.makepyfile(test_list=LIST_ITEMS.replace("test_items_of_a_user", "test_renamed"))
    old = plan_app.path / "__dbguard__/test_list/test_items_of_a_user.plan"

    selected = plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-k", "renamed")
    selected.assert_outcomes(passed=1, deselected=2)
    node_id = plan_app.runpytest(
        "--dbguard-plans", "--dbguard-update", "test_list.py::test_renamed"
    )
    node_id.assert_outcomes(passed=1)
    assert old.exists()

    checked = plan_app.runpytest("--dbguard-plans")
    checked.assert_outcomes(passed=3)
    checked.stdout.fnmatch_lines(
        [
            "dbguard: 1 orphaned plan snapshot(s), whose tests are gone (--dbguard-update removes them):",
            "  __dbguard__/test_list/test_items_of_a_user.plan",
        ]
    )
    assert old.exists()
    removed = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    removed.assert_outcomes(passed=3)
    removed.stdout.fnmatch_lines(
        [
            "dbguard: removed 1 plan snapshot(s):",
            "  __dbguard__/test_list/test_items_of_a_user.plan",
        ]
    )
    assert not old.exists()


def test_marker_and_ini_option_turn_snapshots_on(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_marked="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.snapshot_plans
        def test_marked(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE email = 'a'")).all()

        def test_unmarked(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE id = 1")).all()
        """
    )
    result = plan_app.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*No plan snapshot for this test*test_marked.plan*"])
    plan_app.makeini("[pytest]\ndbguard_plans = true\n")
    plan_app.runpytest().assert_outcomes(failed=2)


def test_a_failed_write_keeps_the_previous_file(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    before = snapshot_files(plan_app.path)
    plan_app.makepyfile(
        test_list=LIST_ITEMS.replace("WHERE id = :u", "WHERE id = :u AND email <> ''"),
        conftest_faults="",
    )
    break_fsync(plan_app, "raise OSError(28, 'No space left on device')")
    result = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "dbguard: ERROR __dbguard__/test_list/test_items_of_a_user.plan: cannot write the "
            "snapshot: No space left on device"
        ]
    )
    assert snapshot_files(plan_app.path) == before
    leftovers = [p for p in (plan_app.path / "__dbguard__").rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_snapshots_are_identical_on_two_fresh_databases(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, second_database_url: str
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    first = snapshot_files(plan_app.path)
    for path in (plan_app.path / "__dbguard__").rglob("*.plan"):
        path.unlink()
    monkeypatch.setenv("DBGUARD_INNER_URL", second_database_url)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-p", "no:randomly").assert_outcomes(
        passed=3
    )
    assert snapshot_files(plan_app.path) == first


def test_plans_are_checked_only_on_the_recorded_postgresql_version(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / "__dbguard__/test_list/test_items_of_a_user.plan"
    major = path.read_text().split("# postgresql: ")[1].split("\n")[0]
    path.write_text(path.read_text().replace(f"# postgresql: {major}", "# postgresql: 9"))
    plan_app.runpytest("--dbguard-plans").assert_outcomes(passed=2, failed=1)
    elsewhere = plan_app.runpytest("--dbguard-plans", "--dbguard-plans-postgresql=9")
    elsewhere.assert_outcomes(passed=3)
    elsewhere.stdout.fnmatch_lines(
        [f"Plans of 3 tests not checked: the snapshots record another PostgreSQL than {major}*"]
    )


def test_update_writes_only_for_tests_that_check_plans(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_some="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.snapshot_plans
        def test_checked(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE id = 1")).all()

        def test_unchecked(engine):
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM users WHERE id = 2")).all()
        """
    )
    result = plan_app.runpytest("--dbguard-update")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["dbguard: wrote 1 plan snapshot(s):", "  __dbguard__/test_some/test_checked.plan"]
    )
    plain = plan_app.runpytest()
    plain.assert_outcomes(passed=2)
    plain.stdout.no_fnmatch_line("*orphan*")
    (plan_app.path / "__dbguard__/test_some/test_unchecked.plan").write_text("stale")
    cleaned = plan_app.runpytest("--dbguard-update")
    cleaned.stdout.fnmatch_lines(
        ["dbguard: removed 1 plan snapshot(s):", "  __dbguard__/test_some/test_unchecked.plan"]
    )


def test_a_statement_seen_before_gets_the_same_snapshot_as_a_new_one(
    plan_app: pytest.Pytester,
) -> None:
    # test_parametrized[3] repeats [1]'s statement: its plan comes from the one-round-trip
    # path (ANALYZE of the tables [1]'s plan read); alone, from the step-by-step path.
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-p", "no:randomly").assert_outcomes(
        passed=3
    )
    after_another = snapshot_files(plan_app.path)
    for path in (plan_app.path / "__dbguard__").rglob("*.plan"):
        path.unlink()
    alone = plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-k", "parametrized and 3")
    alone.assert_outcomes(passed=1, deselected=2)
    name = "__dbguard__/test_list/test_parametrized[3].plan"
    assert snapshot_files(plan_app.path)[name] == after_another[name]
