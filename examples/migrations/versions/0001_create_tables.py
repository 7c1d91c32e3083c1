"""Create the research app's tables: users, research items, prompts, and the legacy exports.

New tables hold no data and nobody waits on them: nothing here needs care.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("team", sa.String(50), nullable=False),
    )
    # dbguard: allow squawk:require-lock-timeout (its lock on users, created just above)
    op.create_table(
        "research_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("line_of_business", sa.String(50), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),  # superseded by prompts; dropped in 0009
    )
    op.create_index("ix_research_items_owner_id", "research_items", ["owner_id"])
    op.create_index("ix_research_items_line_of_business", "research_items", ["line_of_business"])
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "research_item_id", sa.Integer(), sa.ForeignKey("research_items.id"), nullable=False
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("model", sa.String(50), nullable=True),  # made NOT NULL in 0006
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )
    op.create_index("ix_prompts_research_item_id", "prompts", ["research_item_id"])
    op.create_table(  # dropped in 0009
        "legacy_exports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("legacy_exports")
    op.drop_table("prompts")
    op.drop_table("research_items")
    op.drop_table("users")
