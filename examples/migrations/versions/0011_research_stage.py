"""A research stage as an enum type. NOT REVERSIBLE as written (a demonstration).

The downgrade drops the column but forgets the type ``research_stage``: after it the schema is
not the one before this revision, and upgrading again fails (the type already exists). A
classic with Alembic, whose ``drop_column`` never drops an enum type.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

stage = postgresql.ENUM("scoping", "analysis", "writing", name="research_stage", create_type=False)


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("CREATE TYPE research_stage AS ENUM ('scoping', 'analysis', 'writing')")
    op.add_column("research_items", sa.Column("stage", stage, nullable=True))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("research_items", "stage")
    # Missing: op.execute("DROP TYPE research_stage")
