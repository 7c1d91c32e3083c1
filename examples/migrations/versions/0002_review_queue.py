"""The review queue: when an item was reviewed, and an index for the queue's status filter.

A SAFE revision, written the way it should be on a table that holds data and serves traffic:

- ``lock_timeout`` first: ADD COLUMN needs an ACCESS EXCLUSIVE lock for an instant, but while
  it waits for a long transaction every query on the table queues behind it. With a timeout
  the migration fails fast instead, and can be retried;
- the new column is nullable, without a default: no table rewrite, no scan;
- the index is built CONCURRENTLY, outside the migration's transaction (an autocommit block):
  writes go on while it is built.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "research_items", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True)
    )
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        op.create_index(
            "ix_research_items_status",
            "research_items",
            ["status"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        op.drop_index(
            "ix_research_items_status",
            table_name="research_items",
            postgresql_concurrently=True,
            if_exists=True,
        )
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("research_items", "reviewed_at")
