"""The migration checks in pytest sessions (pytester), on the real PostgreSQL server of the test
run: the items of --dbguard-migrations, the dbguard_migrations fixture, the options, the
report data, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest
from _alembic_project import ARGS, write_revision
from sqlalchemy.engine import make_url


def test_one_item_per_revision_and_one_for_the_single_head(project: pytest.Pytester) -> None:
    result = project.runpytest("--dbguard-migrations", *ARGS, "-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "migrations/alembic.ini::single_head PASSED*",
            "migrations/versions/0001_revision.py::migration PASSED*",
            "migrations/versions/0002_revision.py::migration PASSED*",
            "migrations/versions/0003_revision.py::migration FAILED*",
            "*_ migration 0003 _*",
            "CREATE INDEX without CONCURRENTLY on items, an existing table",
            "  at migrations/versions/0003_revision.py:10 (revision 0003)",
            "  CREATE INDEX ix_items_title ON items (title)",
            "  Lock: SHARE on items: every INSERT, UPDATE and DELETE on items waits",
            "Fix: build it CONCURRENTLY (writes go on), outside the migration's transaction:",
            '        op.create_index("ix_items_title", "items", ["title"], '
            "postgresql_concurrently=True)",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_the_items_follow_k_and_m(project: pytest.Pytester) -> None:
    project.makepyfile(test_app="def test_app(): pass")
    result = project.runpytest("--dbguard-migrations", *ARGS, "-m", "not dbguard_migrations")
    result.assert_outcomes(passed=1)
    result = project.runpytest("--dbguard-migrations", *ARGS, "-k", "0002 or single_head")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["collected 5 items / 3 deselected / 2 selected"])


def test_the_fixture_checks_one_revision(project: pytest.Pytester) -> None:
    project.makeini(
        """
        [pytest]
        dbguard_alembic_config = migrations/alembic.ini
        dbguard_migrations_url = ${DBGUARD_INNER_URL}
        """
    )
    project.makepyfile(
        test_migrations="""
        import pytest
        from pytest_dbguard import DBGuardFailure

        def test_safe(dbguard_migrations):
            assert dbguard_migrations.revisions == ["0001", "0002", "0003"]
            dbguard_migrations.check_single_head()
            assert dbguard_migrations.check("0002") == []

        def test_unsafe(dbguard_migrations):
            with pytest.raises(DBGuardFailure, match="CREATE INDEX without CONCURRENTLY"):
                dbguard_migrations.check("0003")
            rules = [finding.rule for finding in dbguard_migrations.findings("0003")]
            assert "index_without_concurrently" in rules

        def test_history(dbguard_migrations):
            with pytest.raises(DBGuardFailure, match="revision 0003"):
                dbguard_migrations.check_history()

        def test_unknown_revision(dbguard_migrations):
            with pytest.raises(DBGuardFailure, match="no revision 'abc' in the migration "
                               "history .revisions: 0001, 0002, 0003."):
                dbguard_migrations.check("abc")
        """
    )
    result = project.runpytest("-o", "dbguard_migrations_squawk=off")
    result.assert_outcomes(passed=4)


def test_safety_findings_can_warn_instead(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--dbguard-migrations", *ARGS, "--dbguard-migrations-safety=warn", "-k", "0003"
    )
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*migrations/versions/0003_revision.py:10: DBGuardWarning: CREATE INDEX without "
            "CONCURRENTLY on items, an existing table",
            "*= dbguard migrations =*",
            "  WARN migrations/versions/0003_revision.py:10: CREATE INDEX without*",
        ]
    )


def test_an_allow_comment_waives_a_finding_on_its_line(project: pytest.Pytester) -> None:
    write_revision(
        project,
        "0003",
        "0002",
        """
        op.execute("SET LOCAL lock_timeout = '5s'")
        # dbguard: allow index_without_concurrently (items is tiny in production)
        op.create_index("ix_items_title", "items", ["title"])
        """,
        'op.drop_index("ix_items_title", table_name="items")',
    )
    result = project.runpytest("--dbguard-migrations", *ARGS, "-k", "0003")
    result.assert_outcomes(passed=1)


def test_revisions_before_start_after_are_only_checked_for_round_trips(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest(
        "--dbguard-migrations", *ARGS, "--dbguard-migrations-start-after=0003"
    )
    result.assert_outcomes(passed=4)
    result = project.runpytest("--dbguard-migrations", *ARGS, "--dbguard-migrations-start-after=9")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*dbguard_migrations_start_after: no revision '9' in the*"])


def test_an_irreversible_revision_and_a_downgrade_that_leaves_things_behind(
    project: pytest.Pytester,
) -> None:
    write_revision(project, "0002", "0001", "op.execute('SELECT 1')", "raise NotImplementedError")
    write_revision(
        project,
        "0003",
        "0002",
        """
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
        op.execute("ALTER TABLE items ADD COLUMN mood mood")
        """,
        'op.drop_column("items", "mood")',
    )
    result = project.runpytest("--dbguard-migrations", *ARGS)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "The revision cannot be reversed: downgrade() raises NotImplementedError",
            "  at migrations/versions/0002_revision.py:13 (revision 0002)",
            "Revision 0003 (migrations/versions/0003_revision.py): 2 findings",
            "1. The downgrade does not give back the schema of revision 0002",
            "     at migrations/versions/0003_revision.py:14 (revision 0003)",
            "     type mood is extra after the downgrade: happy, sad",
            '2. Upgrading again after the downgrade fails: type "mood" already exists',
            "     at migrations/versions/0003_revision.py:10 (revision 0003)",
        ]
    )


def test_a_revision_that_fails_stops_the_history_there(project: pytest.Pytester) -> None:
    write_revision(
        project, "0002", "0001", "op.execute('ALTER TABLE missing ADD COLUMN a int')", "pass"
    )
    result = project.runpytest("--dbguard-migrations", *ARGS, "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            'The upgrade fails even on an empty database: relation "missing" does not exist',
            "  at migrations/versions/0002_revision.py:9 (revision 0002)",
            "  ALTER TABLE missing ADD COLUMN a int",
            "SKIPPED * revision 0003 not checked: revision 0002 cannot be applied even to an "
            'empty database (relation "missing" does not exist)',
        ]
    )


def test_a_revision_that_fails_only_on_data_lets_the_next_ones_be_checked(
    project: pytest.Pytester,
) -> None:
    write_revision(
        project,
        "0002",
        "0001",
        """
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.create_unique_constraint("uq_items_title", "items", ["title"])
        op.execute("UPDATE items SET title = 'same'")
        """,
        'op.drop_constraint("uq_items_title", "items")',
    )
    result = project.runpytest("--dbguard-migrations", *ARGS)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*The upgrade fails on a database that holds data: duplicate key value violates "
            'unique constraint "uq_items_title"',
            "*ADD UNIQUE (an index build) without CONCURRENTLY on items*",
            "CREATE INDEX without CONCURRENTLY on items, an existing table",  # 0003, checked
        ]
    )


def test_several_heads(project: pytest.Pytester) -> None:
    write_revision(project, "0004", "0001", "op.execute('SELECT 1')", "pass")
    result = project.runpytest("--dbguard-migrations", *ARGS)
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            "The migration history has 2 heads: 0003, 0004. Two branches were added in parallel*",
            '*Fix: merge them, `alembic merge heads -m "merge"`*',
        ]
    )


def test_no_alembic_configuration(project: pytest.Pytester) -> None:
    result = project.runpytest("--dbguard-migrations", "--dbguard-migrations-url=postgresql://x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --dbguard-migrations: no Alembic configuration: */alembic.ini does not "
            "exist (set dbguard_alembic_config to your alembic.ini, or pyproject.toml with *"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dbguard-migrations-safety=maybe"],
            "--dbguard-migrations-safety / ini dbguard_migrations_safety: 'maybe' is not one "
            "of fail, warn, off",
        ),
        (
            ["-o", "dbguard_migrations_seed=nonsense"],
            "ini dbguard_migrations_seed: 'nonsense' is not module:function",
        ),
        (
            ["-o", "dbguard_migrations=perhaps"],
            "--dbguard-migrations / ini dbguard_migrations: 'perhaps' is not true or false",
        ),
        (
            ["--dbguard-migrations", "--dbguard-migrations-url=$DBGUARD_NOT_SET_ANYWHERE"],
            "--dbguard-migrations-url / ini dbguard_migrations_url: the environment variable "
            "DBGUARD_NOT_SET_ANYWHERE is not set",
        ),
        (
            ["--dbguard-migrations"],
            "--dbguard-migrations: the migration checks need a PostgreSQL server to create a "
            "fresh database on: set --dbguard-migrations-url*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_a_role_that_may_not_create_databases(
    project: pytest.Pytester, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = f"dbguard_no_createdb_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_db)
    admin = psycopg.connect(
        dbname=url.database,
        user=url.username,
        host=url.query.get("host", url.host),  # type: ignore[arg-type]
        port=url.query.get("port", url.port),  # type: ignore[arg-type]
        autocommit=True,
    )
    admin.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        monkeypatch.setenv("DBGUARD_INNER_URL", pg_db.replace(f"{url.username}@", f"{role}@", 1))
        result = project.runpytest("--dbguard-migrations", *ARGS, "-k", "0001")
    finally:
        admin.execute(f"DROP ROLE {role}")
        admin.close()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"the role '{role}' may not create databases on {role}@*: pytest-dbguard checks "
            "migrations on a fresh database it creates and drops. Grant it (ALTER ROLE "
            f"{role} CREATEDB) or give a URL of a role that may."
        ]
    )


def test_env_py_that_ignores_the_url_is_stopped_before_it_touches_its_database(
    project: pytest.Pytester, pg_db: str
) -> None:
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            'config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",',
            '{"sqlalchemy.url": __import__("os").environ["DBGUARD_INNER_URL"]}, '
            'prefix="sqlalchemy.",',
        )
    )
    result = project.runpytest("--dbguard-migrations", *ARGS, "-k", "0001")
    result.assert_outcomes(failed=1)
    database = make_url(pg_db).database
    result.stdout.fnmatch_lines(
        [
            f"env.py connected to the database '{database}', not to the fresh database "
            "pytest-dbguard created for the check. Its migrations were stopped before they ran "
            "there. env.py must take its URL from config.get_main_option('sqlalchemy.url')*"
        ]
    )
    with psycopg.connect(pg_db.replace("+psycopg", "")) as connection:
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)


def test_env_py_reading_its_url_from_the_environment(project: pytest.Pytester) -> None:
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            'config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",',
            '{"sqlalchemy.url": __import__("os").environ["APP_DATABASE_URL"]}, '
            'prefix="sqlalchemy.",',
        )
    )
    result = project.runpytest(
        "--dbguard-migrations",
        *ARGS,
        "-k",
        "0002",
        "-o",
        "dbguard_migrations_url_env=APP_DATABASE_URL",
    )
    result.assert_outcomes(passed=1)


def test_a_seed_function_gives_the_tables_their_rows(project: pytest.Pytester) -> None:
    project.makepyfile(
        seed_rows="""
        from sqlalchemy import text

        def seed(connection, revision):
            if revision == "0002":
                connection.execute(text("INSERT INTO items (title) VALUES ('from the hook')"))
        """
    )
    write_revision(
        project,
        "0002",
        "0001",
        """
        op.execute("DO $$ BEGIN IF (SELECT array_agg(title::text) FROM items) <> "
                   "ARRAY['from the hook'] THEN RAISE EXCEPTION 'not the hook''s rows'; "
                   "END IF; END $$")
        """,
        "pass",
    )
    project.syspathinsert()
    result = project.runpytest(
        "--dbguard-migrations", *ARGS, "-k", "0002", "-o", "dbguard_migrations_seed=seed_rows:seed"
    )
    result.assert_outcomes(passed=1)


def test_squawk_findings(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--dbguard-migrations",
        *ARGS,
        "-k",
        "0003",
        "--dbguard-migrations-squawk=fail",
        "--dbguard-migrations-safety=off",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*squawk require-concurrent-index-creation: During normal index creation, table "
            "updates are blocked*",
            "*at migrations/versions/0003_revision.py:10 (revision 0003)",
        ]
    )
    result = project.runpytest(
        "--dbguard-migrations", *ARGS, "-k", "0002", "--dbguard-migrations-squawk=auto"
    )
    result.assert_outcomes(passed=1, warnings=1)  # auto: squawk is installed, its findings warn
    result.stdout.fnmatch_lines(["*: DBGuardWarning: squawk require-statement-timeout: *"])


def test_report_data_has_no_absolute_paths_and_no_url(project: pytest.Pytester, pg_db: str) -> None:
    project.makeconftest(
        """
        import json
        from pytest_dbguard.migrations import markdown_section, migration_findings_as_data

        def pytest_sessionfinish(session):
            data = migration_findings_as_data(session.config)
            with open("findings.json", "w") as handle:
                json.dump(data, handle)
            with open("section.md", "w") as handle:
                handle.write(markdown_section(data))
        """
    )
    project.runpytest("--dbguard-migrations", *ARGS)
    text = (project.path / "findings.json").read_text()
    data = json.loads(text)
    assert [(item["rule"], item["file"], item["line"]) for item in data] == [
        ("index_without_concurrently", "migrations/versions/0003_revision.py", 10)
    ]
    assert str(project.path) not in text
    assert str(make_url(pg_db).database) not in text
    section = (project.path / "section.md").read_text()
    assert section.startswith("## Migration safety\n")
    assert "`migrations/versions/0003_revision.py:10`" in section


def test_findings_reach_the_controller_under_xdist(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "--dbguard-migrations", *ARGS, "-n", "2", "--dist", "loadgroup"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= dbguard migrations =*",
            "1 migration finding(s)",
            "  FAIL migrations/versions/0003_revision.py:10: CREATE INDEX without CONCURRENTLY*",
        ]
    )


def test_the_fresh_database_is_dropped(project: pytest.Pytester, pg_db: str) -> None:
    project.runpytest("--dbguard-migrations", *ARGS, "-k", "0001")
    with psycopg.connect(pg_db.replace("+psycopg", "")) as connection:
        left = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"dbguard_migrations_{os.getpid()}_%",),
        ).fetchall()
    assert left == []


def test_an_alembic_configuration_in_pyproject_toml(project: pytest.Pytester) -> None:
    (project.path / "migrations" / "alembic.ini").unlink()
    (project.path / "pyproject.toml").write_text('[tool.alembic]\nscript_location = "migrations"\n')
    result = project.runpytest(
        "--dbguard-migrations",
        "--dbguard-alembic-config=pyproject.toml",
        "--dbguard-migrations-url=$DBGUARD_INNER_URL",
        "--dbguard-migrations-squawk=off",
        "-k",
        "0002 or single_head",
        "-v",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["pyproject.toml::single_head PASSED*"])
