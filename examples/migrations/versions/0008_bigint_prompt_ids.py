"""Prompt ids as bigint, before they run out. UNSAFE (a demonstration).

integer -> bigint is not a binary-compatible change: PostgreSQL rewrites the table and rebuilds
its indexes under an ACCESS EXCLUSIVE lock. (varchar(50) -> varchar(100), or varchar -> text,
are not rewritten.) The safe way is a new bigint column, filled in batches and kept in sync by
a trigger, swapped in a short transaction.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.alter_column("prompts", "id", existing_type=sa.Integer(), type_=sa.BigInteger())


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.alter_column("prompts", "id", existing_type=sa.BigInteger(), type_=sa.Integer())
