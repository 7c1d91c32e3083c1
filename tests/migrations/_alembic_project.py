"""A small Alembic project for the migration checks' pytester sessions: items (0001), a safe
nullable column (0002), an index built without CONCURRENTLY (0003)."""

from __future__ import annotations

import textwrap

import pytest

ALEMBIC_INI = """
[alembic]
script_location = %(here)s
path_separator = os
sqlalchemy.url = postgresql+psycopg://nobody@127.0.0.1:1/nothing
"""

ENV_PY = """
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""

REVISIONS = {
    "0001": """
        op.create_table(
            "items",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("title", sa.String(100), nullable=False),
        )
        """,
    "0002": """
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.add_column("items", sa.Column("note", sa.Text(), nullable=True))
        """,
    "0003": """
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.create_index("ix_items_title", "items", ["title"])
        """,
}
DOWNGRADES = {
    "0001": 'op.drop_table("items")',
    "0002": 'op.drop_column("items", "note")',
    "0003": 'op.drop_index("ix_items_title", table_name="items")',
}

# The options of a pytester session that checks the project (the URL from DBGUARD_INNER_URL);
# squawk's style rules would add warnings to every run: its tests turn it on.
ARGS = (
    "--dbguard-alembic-config=migrations/alembic.ini",
    "--dbguard-migrations-url=$DBGUARD_INNER_URL",
    "--dbguard-migrations-squawk=off",
)


def revision_source(revision: str, down: str | None, upgrade: str, downgrade: str) -> str:
    body = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    return (
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {down!r}\n\n\n"
        f"def upgrade():\n{body}\n\n\n"
        f"def downgrade():\n{textwrap.indent(textwrap.dedent(downgrade).strip(), '    ')}\n"
    )


def write_revision(
    pytester: pytest.Pytester, revision: str, down: str | None, upgrade: str, downgrade: str
) -> None:
    path = pytester.path / "migrations" / "versions" / f"{revision}_revision.py"
    path.write_text(revision_source(revision, down, upgrade, downgrade))
