"""Public identifiers for research items, for share links. UNSAFE (a demonstration).

A column added with a VOLATILE default (``gen_random_uuid()``: a different value per row)
makes PostgreSQL rewrite the whole table, row by row, under an ACCESS EXCLUSIVE lock: no read
or write of ``research_items`` until it is done. (A constant or STABLE default, such as
``now()``, is stored once in the catalog since PostgreSQL 11: no rewrite.)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "research_items",
        sa.Column("public_id", UUID(), nullable=False, server_default=sa.text("gen_random_uuid()")),
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("research_items", "public_id")
