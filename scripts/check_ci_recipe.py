"""Check that the GitHub Actions recipe (docs/ci/dbguard.yml) runs as written.

The checker plays a pull request on a small sample project it creates (a models module, a
conftest and tests that read DATABASE_URL), in a git repository with a local ``origin``:

1. The pull request's branch adds a test whose plan has no snapshot yet.
2. The job that runs ``--dbguard-update`` (``update-plans``) runs on that branch: it must commit
   the new ``.plan`` files and push them to the branch (when the server is the PostgreSQL major
   the recipe's snapshots record; on another one it must find nothing to commit).
3. The other job (``tests``) runs on the branch as pushed, and must pass.

Each job runs in a fresh clone of the sample project and a fresh virtualenv (the machine's
Python stands in for ``actions/setup-python``). Every ``run:`` step runs as written, in order,
with ``bash -eo pipefail`` as on GitHub's runners and the environment the workflow sets;
``${{ }}`` expressions in ``env:`` are evaluated against the pull request's context. Two things
stand in for GitHub's: the ``postgres`` service is the PostgreSQL server named by
``--server-url`` (a fresh database on it, in every variable that pointed at the service), and the
pytest-dbguard repository URL is a clean clone of this repository served on 127.0.0.1.
``uses:`` steps are skipped (and named); the files they would read must exist. Job-level
``if:`` conditions are not evaluated: the checker plays the two jobs in the order above.

``--strip-unknown-options`` drops the ``--dbguard-*`` options the installed plugin does not know
(and says so): for a recipe written ahead of the plugin.

Run: ``python scripts/check_ci_recipe.py`` (needs PyYAML, psycopg and jsonschema, from the
``test`` extra, git, and a PostgreSQL server). Removes everything it created, the database
included.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import psycopg
import yaml
from check_dist import (
    REPOSITORY_URL,
    CheckFailed,
    clean_clone,
    fresh_venv,
    instruction_blocks,
    run,
    served,
    step,
)
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "ci" / "dbguard.yml"
SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"  # the official one, vendored
DEFAULT_SERVER = os.environ.get(
    "DBGUARD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

REPOSITORY = "example/sample-app"
BRANCH = "add-order-totals"
# The pull request as GitHub describes it to the workflow (the subset the recipe reads).
GITHUB_CONTEXT: dict[str, Any] = {
    "repository": REPOSITORY,
    "event_name": "pull_request",
    "head_ref": BRANCH,
    "ref_name": "7/merge",
    "event": {
        "action": "labeled",
        "label": {"name": "update-plans"},
        "pull_request": {"number": 7, "head": {"ref": BRANCH, "repo": {"full_name": REPOSITORY}}},
    },
}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
DBGUARD_OPTION = re.compile(r"(--dbguard-[a-z-]+)(?:=(\S+))?")
SNAPSHOTS_MAJOR = re.compile(r"--dbguard-plans-postgresql=(\d+)")

SAMPLE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=77"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "sample-app"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["SQLAlchemy>=2.0"]

        [project.optional-dependencies]
        test = ["pytest>=8", "psycopg[binary]>=3.1"]

        [tool.setuptools]
        packages = ["sample_app"]

        [tool.pytest.ini_options]
        testpaths = ["tests"]
        """,
    ".gitignore": """
        __pycache__/
        *.egg-info/
        dbguard*.md
        dbguard.json
        dbguard.sarif
        dbguard-plans.patch
        """,
    "sample_app/__init__.py": "",
    "sample_app/models.py": """
        from sqlalchemy import ForeignKey, String, func, select
        from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


        class Base(DeclarativeBase):
            pass


        class Customer(Base):
            __tablename__ = "customers"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(100))


        class Order(Base):
            __tablename__ = "orders"
            id: Mapped[int] = mapped_column(primary_key=True)
            customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
            total: Mapped[int]


        def orders_of(session: Session, customer_id: int) -> list[Order]:
            query = select(Order).where(Order.customer_id == customer_id).order_by(Order.id)
            return list(session.scalars(query))


        def latest_customers(session: Session, limit: int) -> list[Customer]:
            return list(session.scalars(select(Customer).order_by(Customer.id.desc()).limit(limit)))


        def total_of(session: Session, customer_id: int) -> int | None:
            query = select(func.sum(Order.total)).where(Order.customer_id == customer_id)
            return session.scalar(query)
        """,
    "tests/conftest.py": """
        import os

        import pytest
        from sqlalchemy import create_engine, insert
        from sqlalchemy.orm import Session

        from sample_app.models import Base, Customer, Order


        @pytest.fixture
        def engine():
            engine = create_engine(os.environ["DATABASE_URL"])
            Base.metadata.drop_all(engine)
            Base.metadata.create_all(engine)
            with engine.begin() as conn:
                ids = range(1, 11)
                conn.execute(insert(Customer), [{"id": i, "name": f"customer {i}"} for i in ids])
                orders = [{"customer_id": i, "total": t} for i in ids for t in (10, 20, 30)]
                conn.execute(insert(Order), orders)
            yield engine
            engine.dispose()


        @pytest.fixture
        def session(engine):
            with Session(engine) as session:
                yield session
        """,
    "tests/test_orders.py": """
        import pytest

        from sample_app.models import latest_customers, orders_of


        @pytest.mark.max_queries(1)
        def test_orders_of_a_customer(session):
            assert [order.total for order in orders_of(session, 3)] == [10, 20, 30]


        def test_latest_customers(session):
            assert [customer.id for customer in latest_customers(session, 3)] == [10, 9, 8]
        """,
}
# What the pull request adds: a test whose plan has no snapshot yet.
PULL_REQUEST = {
    "tests/test_totals.py": """
        from sample_app.models import total_of


        def test_total_of_a_customer(session):
            assert total_of(session, 2) == 60
        """,
}


@dataclass
class Context:
    """What the jobs share: the places, the URLs, and what was not run as written."""

    work: Path
    origin: Path
    plugin_url: str
    database_url: str
    strip_unknown: bool
    stripped: set[str] = field(default_factory=set)


def git(*args: str | Path, cwd: Path) -> str:
    return run(
        "git", "-c", "user.name=sample", "-c", "user.email=sample@example.com", *args, cwd=cwd
    )


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def sample_repository(work: Path) -> Path:
    """The sample project's ``origin``: ``main``, and the pull request's branch."""
    origin = work / "origin.git"
    run("git", "init", "--quiet", "--bare", "--initial-branch=main", origin, cwd=work)
    source = work / "sample"
    git("init", "--quiet", "--initial-branch=main", source, cwd=work)
    write_files(source, SAMPLE)
    git("add", "--all", cwd=source)
    git("commit", "--quiet", "-m", "A sample project", cwd=source)
    git("switch", "--quiet", "-c", BRANCH, cwd=source)
    write_files(source, PULL_REQUEST)
    git("add", "--all", cwd=source)
    git("commit", "--quiet", "-m", "Order totals", cwd=source)
    git("push", "--quiet", origin, "main", BRANCH, cwd=source)
    step(
        f"sample project: main, and the pull request's branch {BRANCH} adding {list(PULL_REQUEST)}"
    )
    return origin


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A database of its own on the server, dropped afterwards; its URL (no driver)."""
    server = make_url(server_url)
    name = f"dbguard_ci_recipe_{uuid.uuid4().hex[:12]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_major(database_url: str) -> int:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def evaluate(value: str) -> str:
    """``${{ a || b || 'literal' }}`` against GITHUB_CONTEXT: the expressions the recipe's
    ``env:`` values use. Anything else is refused rather than guessed."""

    def one(match: re.Match[str]) -> str:
        for alternative in match.group(1).split("||"):
            term = alternative.strip()
            if term.startswith("'") and term.endswith("'"):
                return term[1:-1]
            if not re.fullmatch(r"github(\.[A-Za-z_][\w-]*)+", term):
                raise CheckFailed(f"cannot evaluate the expression {match.group(0)!r}")
            found: Any = GITHUB_CONTEXT
            for key in term.split(".")[1:]:
                found = found.get(key) if isinstance(found, dict) else None
            if found:
                return str(found)
        return ""

    return EXPRESSION.sub(one, value)


def with_service(name: str, value: str, context: Context) -> str:
    """A URL of the ``postgres`` service (localhost:5432) becomes the fresh database's, with
    the recipe's driver."""
    if not re.match(r"postgres(?:ql)?(?:\+\w+)?://", value):
        return value
    url = make_url(value)
    if url.host not in {"localhost", "127.0.0.1"} or (url.port or 5432) != 5432:
        return value
    local = make_url(context.database_url).set(drivername=url.drivername)
    step(f"  {name}: the postgres service is {local.render_as_string(hide_password=True)}")
    return local.render_as_string(hide_password=False)


def job_environment(venv: Path, clone: Path, job_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """What a step sees: the runner's variables, the virtualenv, the workflow's ``env``."""
    base = fresh_venv(venv)
    for name in list(base):  # this machine's test settings are no business of the recipe's
        if name.startswith(("DBGUARD_", "PYTEST_", "PYTHON")) or name == "COV_CORE_SOURCE":
            del base[name]
    event_path = job_dir / "event.json"
    event_path.write_text(json.dumps(GITHUB_CONTEXT["event"]))
    runner_temp = job_dir / "runner-temp"
    runner_temp.mkdir()
    base.update(
        CI="true",
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(clone),
        GITHUB_REPOSITORY=REPOSITORY,
        GITHUB_EVENT_NAME=GITHUB_CONTEXT["event_name"],
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_HEAD_REF=BRANCH,
        GITHUB_REF_NAME=GITHUB_CONTEXT["ref_name"],
        RUNNER_TEMP=str(runner_temp),
    )
    base.update(env)
    return base


def known_options(env: dict[str, str], clone: Path) -> set[str]:
    help_text = run("python", "-m", "pytest", "--help", cwd=clone, env=env)
    return set(re.findall(r"--dbguard-[a-z-]+", help_text))


def prepare_command(command: str, env: dict[str, str], clone: Path, context: Context) -> str:
    command = command.replace(REPOSITORY_URL, context.plugin_url)
    options = {match.group(1) for match in DBGUARD_OPTION.finditer(command)}
    if not options:
        return command
    unknown = options - known_options(env, clone)
    if not unknown:
        return command
    if not context.strip_unknown:
        step(f"  the installed plugin does not know {sorted(unknown)}: this step will fail")
        return command
    step(f"  NOT AS WRITTEN: the installed plugin does not know {sorted(unknown)}: dropped")
    context.stripped |= unknown
    return DBGUARD_OPTION.sub(
        lambda match: "" if match.group(1) in unknown else match.group(0), command
    )


def produced_by_stripped_options(workflow: dict[str, Any], stripped: set[str]) -> set[str]:
    """The files that options dropped by --strip-unknown-options would have written."""
    files = set()
    for job in workflow["jobs"].values():
        for entry in job["steps"]:
            for match in DBGUARD_OPTION.finditer(entry.get("run", "")):
                if match.group(1) in stripped and match.group(2):
                    files.add(match.group(2))
    return files


def check_inputs(entry: dict[str, Any], clone: Path, excused: set[str]) -> None:
    """The files a skipped ``uses:`` step would read exist (unless it says they may not)."""
    inputs = entry.get("with", {})
    if inputs.get("if-no-files-found") == "ignore":
        return
    names = [inputs.get("sarif_file", ""), *str(inputs.get("path", "")).split()]
    for name in filter(None, names):
        if name not in excused and not (clone / name).exists():
            raise CheckFailed(f"the step {entry['uses']} would read {name}, which no step wrote")


def run_job(name: str, workflow: dict[str, Any], context: Context, branch: str) -> Path:
    job = workflow["jobs"][name]
    step(f"job {name} on {branch}")
    job_dir = context.work / f"job-{name}"
    job_dir.mkdir()
    clone = job_dir / "workspace"
    run("git", "clone", "--quiet", "--branch", branch, context.origin, clone, cwd=job_dir)
    declared = {**workflow.get("env", {}), **job.get("env", {})}
    env = job_environment(
        job_dir / "venv",
        clone,
        job_dir,
        {key: with_service(key, evaluate(str(value)), context) for key, value in declared.items()},
    )
    for number, entry in enumerate(job["steps"], start=1):
        label = entry.get("name") or entry.get("uses") or entry["run"].splitlines()[0]
        if "uses" in entry:
            check_inputs(entry, clone, produced_by_stripped_options(workflow, context.stripped))
            step(f"  step {number}: skipped, uses {entry['uses']} ({label})")
            continue
        if str(entry.get("if", "always()")) not in {"always()", "success()"}:
            raise CheckFailed(f"step {number} ({label}) has a condition the checker cannot play")
        step_env = dict(env)
        step_env.update({key: evaluate(str(value)) for key, value in entry.get("env", {}).items()})
        summary = job_dir / f"step-summary-{number}.md"
        summary.touch()
        step_env["GITHUB_STEP_SUMMARY"] = str(summary)
        stripped_before = set(context.stripped)
        command = prepare_command(entry["run"], step_env, clone, context)
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
            cwd=clone,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CheckFailed(
                f"job {name}, step {number} ({label}) exited {result.returncode}:\n{command}\n"
                f"{result.stdout[-6000:]}{result.stderr[-4000:]}"
            )
        if context.stripped != stripped_before:
            step(f"  step {number}: ran WITHOUT the options it names above ({label})")
        else:
            step(f"  step {number}: ran as written ({label})")
    return job_dir


def check_install_lines(workflow: dict[str, Any], clone: Path) -> None:
    """The recipe installs pytest-dbguard as the README does."""
    documented = {
        line.strip() for _, block in instruction_blocks(clone) for line in block.splitlines()
    }
    for job in workflow["jobs"].values():
        for entry in job["steps"]:
            for line in entry.get("run", "").splitlines():
                if (
                    "pip install" in line
                    and "pytest-dbguard" in line
                    and line.strip() not in documented
                ):
                    raise CheckFailed(
                        f"the recipe installs pytest-dbguard otherwise than the README:\n{line}"
                    )


def jobs_in_play_order(workflow: dict[str, Any]) -> tuple[str, str]:
    """The job that writes the snapshots, then the one that checks them."""
    update = [
        name for name, job in workflow["jobs"].items() if "--dbguard-update" in json.dumps(job)
    ]
    others = [name for name in workflow["jobs"] if name not in update]
    if len(update) != 1 or len(others) != 1:
        raise CheckFailed(
            f"expected one job running --dbguard-update and one other: {workflow['jobs']}"
        )
    return update[0], others[0]


def check(workflow_path: Path, server_url: str, strip_unknown: bool) -> Context:
    workflow = yaml.safe_load(workflow_path.read_text())
    update_job, tests_job = jobs_in_play_order(workflow)
    work = Path(tempfile.mkdtemp(prefix="dbguard-ci-"))
    try:
        plugin = clean_clone(work)
        check_install_lines(workflow, plugin)
        origin = sample_repository(work)
        with served(plugin, work) as plugin_url, fresh_database(server_url) as database_url:
            context = Context(work, origin, f"{plugin_url}", database_url, strip_unknown)
            before = git("rev-parse", BRANCH, cwd=origin).strip()
            run_job(update_job, workflow, context, BRANCH)
            check_snapshot_commit(workflow, context, before)
            tests_dir = run_job(tests_job, workflow, context, BRANCH)
            check_step_summary(tests_dir, context)
            check_published_files(workflow, tests_dir / "workspace", context)
        return context
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_snapshot_commit(workflow: dict[str, Any], context: Context, before: str) -> None:
    recorded = SNAPSHOTS_MAJOR.search(json.dumps(workflow))
    major = server_major(context.database_url)
    after = git("rev-parse", BRANCH, cwd=context.origin).strip()
    if recorded is None or int(recorded.group(1)) == major:
        changed = git("diff", "--name-only", before, after, cwd=context.origin).split()
        plans = [name for name in changed if name.endswith(".plan")]
        if not plans or len(plans) != len(changed):
            raise CheckFailed(
                f"the update job should have pushed .plan files only, pushed {changed}"
            )
        step(f"the update job pushed {len(plans)} plan snapshots to {BRANCH}: {plans}")
    else:
        if after != before:
            raise CheckFailed(f"on PostgreSQL {major} the update job should have pushed nothing")
        step(
            f"PostgreSQL {major}, not the {recorded.group(1)} the snapshots record: the update "
            "job found nothing to commit, as it should"
        )


def check_step_summary(job_dir: Path, context: Context) -> None:
    if "--dbguard-step-summary" in context.stripped:
        return
    written = [path for path in job_dir.glob("step-summary-*.md") if path.read_text().strip()]
    if not written:
        raise CheckFailed("no step wrote the job summary ($GITHUB_STEP_SUMMARY)")
    step(f"the job summary holds the report ({written[0].stat().st_size} bytes)")


def check_published_files(workflow: dict[str, Any], clone: Path, context: Context) -> None:
    """What the skipped ``uses:`` steps would publish is what they expect: SARIF 2.1.0 that
    the official schema accepts for code scanning, and Markdown for the comment."""
    for job in workflow["jobs"].values():
        for entry in job["steps"]:
            inputs = entry.get("with", {})
            sarif = inputs.get("sarif_file")
            if sarif and "--dbguard-sarif" not in context.stripped:
                log = json.loads((clone / sarif).read_text())
                jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)
                results = len(log["runs"][0]["results"])
                step(f"{sarif}: SARIF {log['version']}, valid, {results} result(s)")
            if (
                "comment" in entry.get("uses", "")
                and "--dbguard-pr-summary" not in context.stripped
            ):
                comment = (clone / inputs["path"]).read_text()
                if not comment.startswith("### pytest-dbguard\n"):
                    raise CheckFailed(f"{inputs['path']} is not the pull-request summary")
                step(f"{inputs['path']}: the pull-request summary ({len(comment)} characters)")


def main() -> int:
    parser = argparse.ArgumentParser(description="Check that docs/ci/dbguard.yml runs as written.")
    parser.add_argument("--workflow", type=Path, default=WORKFLOW)
    parser.add_argument("--server-url", default=DEFAULT_SERVER, help="PostgreSQL for the service")
    parser.add_argument("--strip-unknown-options", action="store_true")
    arguments = parser.parse_args()
    try:
        context = check(arguments.workflow, arguments.server_url, arguments.strip_unknown_options)
    except CheckFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    if context.stripped:
        print(f"check_ci_recipe: passed WITHOUT {' '.join(sorted(context.stripped))}")
        print(f"stripped: {shlex.join(sorted(context.stripped))}")
    else:
        print("check_ci_recipe: every run step ran as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
