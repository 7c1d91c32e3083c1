"""Golden plan snapshots: lifecycle, what they record, diffs, costs of as-is plans, versions,
broken files, orphans, file names, determinism."""

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
ITEMS_OF_A_USER = "__dbguard__/test_list/test_items_of_a_user.plan"


def test_lifecycle_missing_update_pass_lost_index_update(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On tables of 5 and 15 rows, the snapshot shows the index each access uses, and a lost
    index is a plan change."""
    plan_app.makepyfile(test_list=LIST_ITEMS)
    missing = plan_app.runpytest("--dbguard-plans")
    missing.assert_outcomes(failed=3)
    missing.stdout.fnmatch_lines(
        [
            "No plan snapshot for this test: run pytest --dbguard-plans --dbguard-update to "
            f"write {ITEMS_OF_A_USER} (2 statements)"
        ]
    )

    updated = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    updated.assert_outcomes(passed=3)
    updated.stdout.fnmatch_lines(
        [
            "dbguard: wrote 3 plan snapshot(s):",
            f"  {ITEMS_OF_A_USER}",
            "  __dbguard__/test_list/test_parametrized[1].plan",
            "  __dbguard__/test_list/test_parametrized[3].plan",
        ]
    )
    first = snapshot_files(plan_app.path)
    text = first[ITEMS_OF_A_USER].decode()
    header = "# pytest-dbguard plan snapshot\n# format: 2\n# postgresql: "
    assert text.startswith(header), text
    assert "# plans: indexed\n# test: test_list.py::test_items_of_a_user\n" in text
    assert (
        "\nSELECT id, title FROM items WHERE user_id = ?\n"
        "  -> Index Scan using ix_items_user_id on items\n"
        "       Index Cond: (items.user_id = ?)\n"
    ) in text
    assert "cost=" not in text
    assert "'2'" not in text
    assert str(plan_app.path) not in text

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
            f"Plans changed against {ITEMS_OF_A_USER}:",
            "  SELECT ... FROM items WHERE user_id = ?: items: Index Scan using "
            "ix_items_user_id ((items.user_id = ?)) -> Seq Scan",
            "",
            f"--- {ITEMS_OF_A_USER} (snapshot)",
            "+++ this run",
            "@@ *",
            " SELECT id, title FROM items WHERE user_id = ?",
            "-  -> Index Scan using ix_items_user_id on items",
            "-       Index Cond: (items.user_id = ?)",
            "+  -> Seq Scan on items",
            "+       Filter: (items.user_id = ?)",
            "*",
            "If the new plans are intended, accept them with --dbguard-plans --dbguard-update.",
        ]
    )
    plan_app.runpytest(
        "--dbguard-plans", "--dbguard-update", "--dbguard-seqscan=off"
    ).assert_outcomes(passed=3)
    plan_app.runpytest("--dbguard-plans", "--dbguard-seqscan=off").assert_outcomes(passed=3)
    assert "Seq Scan on items" in (plan_app.path / ITEMS_OF_A_USER).read_text()


def test_one_more_statement_is_one_change(plan_app: pytest.Pytester) -> None:
    """Statements are matched by their shape: a statement added at the start does not
    renumber the others."""
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    plan_app.makepyfile(
        test_list=LIST_ITEMS.replace(
            '    with engine.connect() as conn:\n        conn.execute(text("SELECT id, title',
            '    with engine.connect() as conn:\n        conn.execute(text("SELECT 1")).all()\n'
            '        conn.execute(text("SELECT id, title',
            1,
        )
    )
    result = plan_app.runpytest("--dbguard-plans")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [f"Plans changed against {ITEMS_OF_A_USER}:", "  new statement: SELECT ?", ""]
    )
    result.stdout.no_fnmatch_line("*SELECT id, title FROM items WHERE user_id = ?: *")


def test_as_is_plans_record_costs_and_check_them(
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
    as_is = ("--dbguard-plans", "--dbguard-plans-as-is")
    plan_app.runpytest(*as_is, "--dbguard-update").assert_outcomes(passed=1)
    text = (plan_app.path / "__dbguard__/test_costs/test_everything.plan").read_text()
    assert "# plans: as-is\n" in text
    assert "-> Seq Scan on items  (cost=" in text
    monkeypatch.setenv("DBGUARD_USERS", "1000")
    grown = plan_app.runpytest(*as_is)
    grown.assert_outcomes(failed=1)
    grown.stdout.fnmatch_lines(
        [
            "Cost regression in __dbguard__/test_costs/test_everything.plan: SELECT * FROM items",
            "  estimated total cost * -> * (+*%), rows * -> *, more than the 20% tolerance "
            "(--dbguard-cost-tolerance)",
        ]
    )
    plan_app.runpytest(*as_is, "--dbguard-cost-tolerance=100").assert_outcomes(passed=1)
    plan_app.runpytest(*as_is, "--dbguard-update").assert_outcomes(passed=1)
    monkeypatch.setenv("DBGUARD_USERS", "100")
    shrunk = plan_app.runpytest(*as_is)
    shrunk.assert_outcomes(passed=1, warnings=1)
    shrunk.stdout.fnmatch_lines(
        [
            "*DBGuardWarning: Cost improved in __dbguard__/test_costs/test_everything.plan: *",
            "*estimated total cost * -> * (-*%), rows * -> *: record it with --dbguard-update",
        ]
    )
    indexed = plan_app.runpytest("--dbguard-plans")
    indexed.assert_outcomes(failed=1)
    indexed.stdout.fnmatch_lines(["*holds as-is plans; this run takes indexed plans*"])


def test_snapshot_from_another_postgresql_version(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / ITEMS_OF_A_USER
    path.write_text(path.read_text().replace("# postgresql: ", "# postgresql: 9", 1))
    result = plan_app.runpytest("--dbguard-plans")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"The plan snapshot {ITEMS_OF_A_USER} was taken on "
            "PostgreSQL 9*; this server runs PostgreSQL *, whose planner makes other plans.*"
        ]
    )
    result.stdout.no_fnmatch_line("*Plans changed*")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda text: text.replace("Index Cond", "Index Condition", 1),
            f"{ITEMS_OF_A_USER}:9: unknown plan property 'Index Condition'",
        ),
        (
            lambda text: text.replace(
                "\n  -> Index Scan using users_pkey on users\n       Index Cond: (users.id = ?)",
                "",
                1,
            ),
            f"{ITEMS_OF_A_USER}:11: expected a statement, then its plan indented below it",
        ),
        (
            lambda text: text.replace("# format: 2", "# format: 7", 1),
            f"{ITEMS_OF_A_USER}:2: written in snapshot format 7 by a newer pytest-dbguard; "
            "this version reads format 2: upgrade pytest-dbguard",
        ),
        (
            lambda text: text.replace("# format: 2", "# format: 1", 1),
            f"{ITEMS_OF_A_USER}:2: written in snapshot format 1 by an older pytest-dbguard*"
            "retake it with --dbguard-update",
        ),
        (
            lambda text: "\x00garbage" + text,
            f"{ITEMS_OF_A_USER}:1: not a pytest-dbguard plan snapshot*",
        ),
        (
            lambda text: text.replace("  -> ", "     -> ", 1),
            f"{ITEMS_OF_A_USER}:8: a plan node is not indented by a multiple of 5 spaces",
        ),
    ],
)
def test_broken_snapshots_name_the_file_and_line(
    plan_app: pytest.Pytester, edit: object, message: str
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / ITEMS_OF_A_USER
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


def test_a_golden_file_goes_only_when_its_test_is_gone(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    files = snapshot_files(plan_app.path)
    # --dbguard-update alone (tests without the marker do not check plans): nothing removed
    plan_app.runpytest("--dbguard-update").assert_outcomes(passed=3)
    # a conftest that drops tests itself, without telling pytest they were deselected
    conftest = (plan_app.path / "conftest.py").read_text()
    plan_app.makeconftest(
        conftest + "\n\ndef pytest_collection_modifyitems(items):\n    del items[1:]\n"
    )
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=1)
    assert snapshot_files(plan_app.path) == files
    plan_app.makeconftest(conftest)

    plan_app.makepyfile(test_list=LIST_ITEMS.replace("test_items_of_a_user", "test_renamed"))
    old = plan_app.path / ITEMS_OF_A_USER
    node_id = plan_app.runpytest(
        "--dbguard-plans", "--dbguard-update", "test_list.py::test_renamed"
    )
    node_id.assert_outcomes(passed=1)
    assert old.exists()  # a selection by node id does not collect the whole module

    checked = plan_app.runpytest("--dbguard-plans")
    checked.stdout.fnmatch_lines(
        [
            "dbguard: 1 plan snapshot(s) of tests that no longer exist (--dbguard-update "
            "removes them):",
            f"  {ITEMS_OF_A_USER}",
        ]
    )
    assert old.exists()
    # -k deselects after collection: the module is known in full, and the old test is gone
    removed = plan_app.runpytest("--dbguard-update", "-k", "parametrized")
    removed.stdout.fnmatch_lines(
        [
            "dbguard: removed 1 plan snapshot(s) of tests that no longer exist:",
            f"  {ITEMS_OF_A_USER}",
        ]
    )
    assert not old.exists()


def test_test_ids_that_differ_only_in_unsafe_characters_get_files_of_their_own(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(
        test_ids="""
        import pytest
        from sqlalchemy import text

        @pytest.mark.parametrize("name", ["a/b", "a_b", "std::string", "std.string"])
        def test_name(engine, name):
            with engine.connect() as conn:
                sql = "SELECT * FROM users WHERE id = 1" if "/" in name or ":" in name else "SELECT * FROM users WHERE email = 'x'"
                conn.execute(text(sql)).all()
        """
    )
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=4)
    names = sorted(path.split("/")[-1] for path in snapshot_files(plan_app.path))
    assert names == [
        "test_name[a%2Fb].plan",
        "test_name[a_b].plan",
        "test_name[std%2Estring].plan",
        "test_name[std%3A%3Astring].plan",
    ]
    plan_app.runpytest("--dbguard-plans").assert_outcomes(passed=4)


def test_names_that_need_quoting_read_back(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(
        test_quoted="""
        from sqlalchemy import text

        def test_quoted(engine):
            with engine.begin() as conn:
                conn.execute(text('DROP TABLE IF EXISTS "user", "Order Items"'))
                conn.execute(text('CREATE TABLE "user" (id serial PRIMARY KEY, "Sign Up" date)'))
                conn.execute(text('CREATE TABLE "Order Items" (id serial PRIMARY KEY, "user" int)'))
                conn.execute(text('CREATE INDEX "Order Items by user" ON "Order Items" ("user")'))
            with engine.connect() as conn:
                conn.execute(text(
                    'SELECT * FROM "user" u JOIN "Order Items" o ON o."user" = u.id '
                    'WHERE u."Sign Up" > :d ORDER BY u.id'), {"d": "2024-01-01"}).all()
        """
    )
    updated = plan_app.runpytest("--dbguard-plans", "--dbguard-update", "--dbguard-seqscan=off")
    updated.assert_outcomes(passed=1)
    text = (plan_app.path / "__dbguard__/test_quoted/test_quoted.plan").read_text()
    assert 'using "Order Items by user" on "Order Items" o' in text, text
    assert 'Join Cond: (o."user" = u.id)' in text, text
    plan_app.runpytest("--dbguard-plans", "--dbguard-seqscan=off").assert_outcomes(passed=1)
    fixed = plan_app.runpytest("--dbguard-plans")
    fixed.stdout.fnmatch_lines(
        ['*CREATE INDEX CONCURRENTLY idx_user_sign_up ON "user" ("Sign Up");']
    )


def test_parameter_values_never_reach_a_file(plan_app: pytest.Pytester) -> None:
    """Generic plans: the server plans without the values, so no key or condition of the
    snapshot can hold one (a secret, or a value with a newline)."""
    plan_app.makepyfile(
        test_values="""
        from sqlalchemy import text

        def test_values(engine):
            with engine.connect() as conn:
                conn.execute(text(
                    "SELECT email, status = :secret AS flagged FROM users "
                    "WHERE email <> :other ORDER BY status = :secret, email LIMIT 3"),
                    {"secret": "sk_live_12345", "other": "line one\\nline two"}).all()
        """
    )
    plan_app.runpytest(
        "--dbguard-plans", "--dbguard-update", "--dbguard-report=report.md", "--dbguard-json=r.json"
    ).assert_outcomes(passed=1)
    for path in [*(plan_app.path / "__dbguard__").rglob("*.plan"), plan_app.path / "report.md"]:
        text = path.read_text()
        assert "sk_live" not in text, text
        assert "line one" not in text, text
    plan_app.runpytest("--dbguard-plans").assert_outcomes(passed=1)


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
    updated = plan_app.runpytest("--dbguard-update")
    updated.stdout.fnmatch_lines(
        ["dbguard: wrote 1 plan snapshot(s):", "  __dbguard__/test_marked/test_marked.plan"]
    )
    plan_app.makeini("[pytest]\ndbguard_plans = true\ndbguard_judge_test_queries = true\n")
    plan_app.runpytest().assert_outcomes(passed=1, failed=1)


def test_a_failed_write_keeps_the_previous_file(plan_app: pytest.Pytester) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    before = snapshot_files(plan_app.path)
    plan_app.makepyfile(
        test_list=LIST_ITEMS.replace("WHERE id = :u", "WHERE id = :u AND email <> ''")
    )
    break_fsync(plan_app, "raise OSError(28, 'No space left on device')")
    result = plan_app.runpytest("--dbguard-plans", "--dbguard-update")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [f"dbguard: ERROR {ITEMS_OF_A_USER}: cannot write the snapshot: No space left on device"]
    )
    assert snapshot_files(plan_app.path) == before
    leftovers = [p for p in (plan_app.path / "__dbguard__").rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_files_follow_the_umask(plan_app: pytest.Pytester) -> None:
    import os

    plan_app.makepyfile(test_list=LIST_ITEMS)
    old = os.umask(0o022)
    try:
        plan_app.runpytest(
            "--dbguard-plans", "--dbguard-update", "--dbguard-report=report.md"
        ).assert_outcomes(passed=3)
    finally:
        os.umask(old)
    for path in [plan_app.path / ITEMS_OF_A_USER, plan_app.path / "report.md"]:
        assert path.stat().st_mode & 0o777 == 0o644, oct(path.stat().st_mode)


def test_snapshots_are_identical_on_two_fresh_databases(
    plan_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, second_database_url: str
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    first = snapshot_files(plan_app.path)
    for path in (plan_app.path / "__dbguard__").rglob("*.plan"):
        path.unlink()
    monkeypatch.setenv("DBGUARD_INNER_URL", second_database_url)
    monkeypatch.setenv("DBGUARD_USERS", "40")  # other data: the same indexed plans
    plan_app.runpytest("--dbguard-plans", "--dbguard-update", "-p", "no:randomly").assert_outcomes(
        passed=3
    )
    assert snapshot_files(plan_app.path) == first


def test_plans_are_checked_only_on_the_recorded_postgresql_version(
    plan_app: pytest.Pytester,
) -> None:
    plan_app.makepyfile(test_list=LIST_ITEMS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=3)
    path = plan_app.path / ITEMS_OF_A_USER
    major = path.read_text().split("# postgresql: ")[1].split("\n")[0]
    path.write_text(path.read_text().replace(f"# postgresql: {major}", "# postgresql: 9"))
    plan_app.runpytest("--dbguard-plans").assert_outcomes(passed=2, failed=1)
    elsewhere = plan_app.runpytest("--dbguard-plans", "--dbguard-plans-postgresql=9")
    elsewhere.assert_outcomes(passed=3)
    elsewhere.stdout.fnmatch_lines(
        [f"Plans of 3 tests not checked: the snapshots record another PostgreSQL than {major}*"]
    )


REUSED_DATABASE = """
import os

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture(scope="session")
def engine():
    engine = create_engine(os.environ["DBGUARD_INNER_URL"])
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE IF NOT EXISTS authors (id serial PRIMARY KEY, name text, status text);"
            "CREATE TABLE IF NOT EXISTS posts (id serial PRIMARY KEY, author_id int "
            "REFERENCES authors (id), title text, created_at timestamptz DEFAULT now());"
            "CREATE INDEX IF NOT EXISTS ix_posts_author ON posts (author_id);"
            "CREATE INDEX IF NOT EXISTS ix_authors_name ON authors (name)"
        ))
    yield engine
    engine.dispose()


@pytest.fixture
def data(engine):
    # committed rows, deleted after the test: the dead tuples a suite leaves behind
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO authors (name, status) SELECT 'a' || n, 'active' FROM generate_series(1, 5) n"))
        conn.execute(text("INSERT INTO posts (author_id, title) SELECT id, 'p' FROM authors"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM posts; DELETE FROM authors"))
"""

REUSED_TESTS = """
from sqlalchemy import text

def test_author_page(data):
    with data.connect() as conn:
        author = conn.execute(text("SELECT id FROM authors WHERE name = :n"), {"n": "a1"}).scalar()
        conn.execute(text(
            "SELECT posts.title, authors.name FROM posts JOIN authors ON authors.id = posts.author_id "
            "WHERE posts.author_id = :a ORDER BY posts.created_at DESC LIMIT 10"), {"a": author}).all()

def test_feed(data):
    with data.connect() as conn:
        conn.execute(text("SELECT * FROM posts WHERE id > :last ORDER BY id LIMIT 3"), {"last": 0}).all()
        conn.execute(text("SELECT count(*) FROM posts")).scalar()
"""


def test_snapshots_survive_reruns_of_one_database(plan_app: pytest.Pytester, pg_db: str) -> None:
    """Plans do not depend on the database's history: reruns on one database whose tables
    keep dead tuples, stale statistics from a big rolled-back insert, and VACUUM ANALYZE
    (what autovacuum does) between runs, all match the first run's snapshots."""
    import psycopg

    plan_app.makeconftest(REUSED_DATABASE)
    plan_app.makepyfile(test_reused=REUSED_TESTS)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").assert_outcomes(passed=2)
    first = snapshot_files(plan_app.path)
    url = pg_db.replace("postgresql+psycopg://", "postgresql://")
    for run in range(20):  # 20 reruns on one database
        with psycopg.connect(url, autocommit=True) as admin:
            if run == 3:
                admin.execute(
                    "INSERT INTO authors (name) SELECT 'x' || n FROM generate_series(1, 3000) n"
                )
                admin.execute("ANALYZE authors")
                admin.execute("DELETE FROM authors WHERE name LIKE 'x%'")
            if run in (6, 9, 15):
                admin.execute("VACUUM ANALYZE")
        plan_app.runpytest("--dbguard-plans").assert_outcomes(passed=2)
    plan_app.runpytest("--dbguard-plans", "--dbguard-update").stdout.no_fnmatch_line("*wrote*")
    assert snapshot_files(plan_app.path) == first
