"""Every analyst gets a region. UNSAFE (a demonstration).

ADD COLUMN ... NOT NULL without a default cannot be applied to a table that holds rows: the
existing users would have no value. It passes on an empty development database, and fails on
the production one.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("users", sa.Column("region", sa.String(20), nullable=False))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("users", "region")
