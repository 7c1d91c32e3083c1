"""Drives Alembic revision by revision on a fresh database, in a child process.

``python -m pytest_dbguard.migrations.runner RESULT.json`` reads its request (JSON) on stdin and
writes the result (JSON) to RESULT.json. A process of its own because Alembic's env.py runs the
project's code: ``logging.config.fileConfig`` (which silences the test process's loggers),
imports of the application, and SQLAlchemy statements that pytest-dbguard's own capture must
not count against the tests' budgets.

For each revision, base to head: fill the empty tables (``seed.py``), upgrade to it while
``observe.Recorder`` reads the catalog around each statement it sends, downgrade to its parent
and compare the schema with the one before, upgrade again and compare with the first upgrade.
A revision that cannot be applied on a database holding data is applied once more on an empty
database, so that the revisions after it are still checked. The database is created from the
URL the user gives (``CREATE DATABASE`` with a unique name) and dropped at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import secrets
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from . import schema_diff, seed, squawk
from .observe import ForeignDatabase, Recorder, first_line, read_state


class SetupError(Exception):
    """The check cannot start (or go on): said to the user as it is, without a traceback."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def main(argv: list[str]) -> int:
    request = json.loads(sys.stdin.read())
    try:
        result = walk(request)
    except SetupError as error:
        result = {"error": {"kind": error.kind, "message": str(error)}}
    except Exception as error:  # noqa: BLE001 (a bug of the plugin: the parent shows it with its traceback)
        result = {
            "error": {
                "kind": "internal",
                "message": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
            }
        }
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def server_description(url: URL) -> str:
    """Where a URL points, without its password: for messages."""
    host = url.host or url.query.get("host") or "localhost"
    port = url.port or url.query.get("port") or 5432
    return f"{url.username or ''}@{host}:{port}"


def _with_driver(url: URL) -> URL:
    """``postgresql://`` means psycopg2 to SQLAlchemy: psycopg (3) when only it is installed."""
    if (
        url.drivername == "postgresql"
        and importlib.util.find_spec("psycopg2") is None
        and importlib.util.find_spec("psycopg") is not None
    ):
        return url.set(drivername="postgresql+psycopg")
    return url


def _own_url(url: URL) -> URL:
    """The URL of pytest-dbguard's own connections: synchronous psycopg where the project's
    driver is asynchronous (asyncpg, psycopg's async mode works either way)."""
    url = _with_driver(url)
    if url.get_dialect().is_async:
        return url.set(drivername="postgresql+psycopg")
    return url


def _connect_error(url: URL, error: Exception) -> SetupError:
    return SetupError(
        "connect",
        f"cannot connect to the PostgreSQL server of dbguard_migrations_url "
        f"({server_description(url)}/{url.database}): {first_line(error)}",
    )


@contextlib.contextmanager
def fresh_database(url: URL, owner: int) -> Iterator[URL]:
    """CREATE DATABASE with a unique name on the server of ``url``; DROP DATABASE after. The
    name holds the test process's id (``owner``)."""
    if not url.drivername.startswith("postgresql"):
        raise SetupError(
            "url",
            f"dbguard_migrations_url must be a PostgreSQL URL, not {url.drivername}://...",
        )
    admin = create_engine(_own_url(url), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    name = f"dbguard_migrations_{owner}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == "42501":
            raise SetupError(
                "createdb",
                f"the role {url.username!r} may not create databases on "
                f"{server_description(url)}: pytest-dbguard checks migrations on a fresh "
                "database it creates and drops. Grant it (ALTER ROLE "
                f"{url.username} CREATEDB) or give a URL of a role that may.",
            ) from None
        raise _connect_error(url, error) from None
    except Exception as error:  # noqa: BLE001 (any driver's connection error)
        raise _connect_error(url, error) from None
    try:
        yield url.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _recreate(server: URL, name: str) -> None:
    """Drop and create the database again (the same name, so every URL stays valid)."""
    admin = create_engine(_own_url(server), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def alembic_config(path: str, url: URL | None, stdout: Any) -> Any:
    from alembic.config import Config

    if not Path(path).is_file():
        raise SetupError(
            "config",
            f"no Alembic configuration: {path} does not exist (set dbguard_alembic_config to "
            "your alembic.ini, or pyproject.toml with [tool.alembic])",
        )
    if path.endswith(".toml"):
        config = Config(toml_file=path, stdout=stdout)
    else:
        config = Config(path, stdout=stdout)
    location = config.get_alembic_option("script_location")
    if isinstance(location, str) and ":" not in location and not os.path.isabs(location):
        # Relative to the directory `alembic` runs from: the configuration's (the checks run
        # there too), whatever the test process's working directory.
        config.set_main_option("script_location", str(Path(path).parent / location))
    if url is not None:
        rendered = url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def script_directory(config: Any) -> Any:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(config)
    except CommandError as error:
        raise SetupError("config", f"no Alembic scripts: {error}") from None


def history(config: Any) -> list[Any]:
    """The revisions base to head; a usage problem if there are several heads."""
    script = script_directory(config)
    heads = script.get_heads()
    if len(heads) > 1:
        raise SetupError("heads", several_heads_message(heads))
    return list(reversed(list(script.walk_revisions())))


def several_heads_message(heads: list[str]) -> str:
    return (
        f"The migration history has {len(heads)} heads: {', '.join(sorted(heads))}. Two "
        "branches were added in parallel and a deployment would not know which to run. "
        'Fix: merge them, `alembic merge heads -m "merge"`, and commit the merge revision.'
    )


def display_path(path: str, root: str, config_path: str) -> str:
    """A revision file's path for messages and reports: relative to the project's root, or to
    the Alembic configuration's directory (a history installed in site-packages)."""
    resolved = Path(path).resolve()
    for base in (Path(root).resolve(), Path(config_path).resolve().parent):
        with contextlib.suppress(ValueError):
            return resolved.relative_to(base).as_posix()
    return resolved.name


class _Run:
    """One walk through the history on one database."""

    def __init__(self, request: dict[str, Any], database: URL) -> None:
        self.request = request
        self.database = database
        # One connection, reused, in autocommit: never idle in a transaction, which would make
        # a CREATE INDEX CONCURRENTLY of the migration wait for it forever.
        self.engine: Engine = create_engine(
            _own_url(database), isolation_level="AUTOCOMMIT", pool_size=1
        )
        self.output = io.StringIO()
        self.config = alembic_config(request["config"], database, self.output)
        self.recorder = Recorder(database.database or "")
        self.seed_hook = _seed_hook(request.get("seed", ""))
        if request.get("url_env"):
            os.environ[request["url_env"]] = database.render_as_string(hide_password=False)

    def state(self) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return read_state(connection.connection.dbapi_connection)

    def command(self, name: str, target: str) -> dict[str, Any] | None:
        """Run ``alembic upgrade/downgrade target``; the error, as data, if it failed."""
        from alembic import command

        run: Callable[[Any, str], None] = getattr(command, name)
        self.recorder.guard = True
        try:
            run(self.config, target)
        except ForeignDatabase as error:
            raise SetupError(
                "env",
                f"{error}. Its migrations were stopped before they ran there. env.py must take "
                "its URL from config.get_main_option('sqlalchemy.url') (Alembic's template "
                "does), or set dbguard_migrations_url_env to the environment variable it reads.",
            ) from None
        except Exception as error:  # noqa: BLE001 (a user's revision or env.py may raise anything)
            return self.error(error)
        finally:
            self.recorder.guard = False
        return None

    def error(self, error: BaseException) -> dict[str, Any]:
        statement = getattr(error, "statement", None)
        orig = getattr(error, "orig", None)
        data: dict[str, Any] = {
            "type": type(orig or error).__name__,
            "message": first_line(error),
            "sqlstate": getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None),
            "statement": statement,
            "site": None,
        }
        for frame, line in traceback.walk_tb(error.__traceback__):
            site = self.recorder.site_of(frame.f_code, line)
            if site is not None:
                data["site"] = site  # the innermost line of the revision file
        return data

    def rebuild(self, revision: Any, step: bool) -> dict[str, Any] | None:
        """A database without rows, at ``revision``: upgraded to its parent, then to it in a
        run of its own (as a production database, release by release), or, ``step=False``,
        base to it in one run. The error of the upgrade if it failed."""
        self.engine.dispose()
        _recreate(_with_driver(make_url(self.request["url"])), self.database.database or "")
        if step and isinstance(revision.down_revision, str):
            failure = self.command("upgrade", revision.down_revision)
            if failure is not None:
                return failure
        return self.command("upgrade", revision.revision)

    def heads(self) -> set[str]:
        from alembic import command

        self.output.seek(0)
        self.output.truncate()
        command.current(self.config)
        return {line.split()[0] for line in self.output.getvalue().splitlines() if line.strip()}


def _seed_hook(name: str) -> seed.SeedHook | None:
    if not name:
        return None
    module, _, function = name.partition(":")
    try:
        hook: seed.SeedHook = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError, ValueError) as error:
        raise SetupError(
            "seed", f"dbguard_migrations_seed: cannot import {name!r} ({error})"
        ) from None
    return hook


def walk(request: dict[str, Any]) -> dict[str, Any]:
    config = alembic_config(request["config"], None, io.StringIO())
    revisions = history(config)
    try:
        url = _with_driver(make_url(request["url"]))
    except ArgumentError:
        raise SetupError("url", "dbguard_migrations_url is not a database URL") from None
    result: dict[str, Any] = {"error": None, "revisions": []}
    with fresh_database(url, request.get("owner", os.getpid())) as database:
        run = _Run(request, database)
        uninstall = run.recorder.install()
        try:
            with run.engine.connect() as connection:
                result["server_version"] = int(
                    connection.execute(text("SHOW server_version_num")).scalar_one()
                )
            stopped: str | None = None
            for revision in revisions:
                entry = _entry(revision, request)
                if stopped is not None:
                    entry["not_checked"] = stopped
                else:
                    _check(revision, entry, run, last=revision is revisions[-1])
                    stopped = entry.get("stops_history")
                entry["squawk"] = squawk.check_revision(
                    request.get("squawk", ""),
                    request["config"],
                    database.render_as_string(hide_password=False),
                    revision,
                    entry["file"],
                    result["server_version"],
                )
                result["revisions"].append(entry)
            if run.recorder.internal_errors:
                result["error"] = {
                    "kind": "internal",
                    "message": "pytest-dbguard failed while observing the migrations",
                    "traceback": run.recorder.internal_errors[0],
                }
        finally:
            uninstall()
            run.engine.dispose()
    return result


def _entry(revision: Any, request: dict[str, Any]) -> dict[str, Any]:
    down = revision.down_revision
    return {
        "revision": revision.revision,
        "down_revision": list(down) if isinstance(down, tuple) else down,
        "doc": revision.doc or "",
        "file": display_path(revision.path, request["root"], request["config"]),
        "path": revision.path,  # for the test process only: never in a report
    }


def _check(revision: Any, entry: dict[str, Any], run: _Run, last: bool) -> None:
    """The observed upgrade, then the round trip: downgrade, compare, upgrade, compare. After
    a failure the database is brought to the revision (without data) for the next ones."""

    def go_on() -> None:
        if not last:  # nothing follows the last revision
            _go_on_without_data(revision, entry, run)

    with run.engine.connect() as connection:
        entry["seed_notes"] = seed.seed(connection, revision.revision, run.seed_hook)
        entry["tables_with_rows"] = seed.tables_with_rows(connection)
    before = run.state()
    entry["tables_before"] = sorted(table["name"] for table in before["tables"].values())
    run.recorder.start(revision.path, entry["file"])
    failure = run.command("upgrade", revision.revision)
    entry["statements"] = run.recorder.stop()
    if failure is not None:
        entry["upgrade_error"] = failure
        _go_on_without_data(revision, entry, run)  # also for the last: says if data made it fail
        return
    after = run.state()
    down = revision.down_revision
    target = "base" if down is None else down if isinstance(down, str) else "-1"
    failure = run.command("downgrade", target)
    if failure is not None:
        entry["downgrade_error"] = failure
        if run.heads() != {revision.revision}:
            go_on()
        return
    entry["downgrade_differences"] = schema_diff.differences(
        schema_diff.structure(before), schema_diff.structure(run.state()), "the downgrade"
    )
    failure = run.command("upgrade", revision.revision)
    if failure is not None:
        entry["reupgrade_error"] = failure
        go_on()
        return
    entry["reupgrade_differences"] = schema_diff.differences(
        schema_diff.structure(after), schema_diff.structure(run.state()), "the second upgrade"
    )


def _go_on_without_data(revision: Any, entry: dict[str, Any], run: _Run) -> None:
    """Bring the database to ``revision`` without rows, so that the next revisions are
    checked; says whether the revision applies to an empty database (upgraded release by
    release), and stops the walk if it cannot be reached at all."""
    failure = run.rebuild(revision, step=True)
    entry["applies_without_data"] = failure is None
    if failure is None or run.rebuild(revision, step=False) is None:
        return
    entry["stops_history"] = (
        f"revision {revision.revision} cannot be applied even to an empty database "
        f"({failure['message']})"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
