"""Remove the legacy notes column and the legacy exports table. UNSAFE (a demonstration).

Both hold data: once dropped it is gone (the downgrade re-creates them empty), and a release
of the application still running reads them and fails. Stop using them in the code first,
deploy, keep a backup, then drop them in a later release.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("research_items", "notes")
    op.drop_table("legacy_exports")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "legacy_exports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=False),
    )
    op.add_column("research_items", sa.Column("notes", sa.Text(), nullable=True))
