"""Index prompts by model, for the per-model usage report. UNSAFE (a demonstration).

``CREATE INDEX`` without CONCURRENTLY holds a SHARE lock on ``prompts`` until the index is
built: every INSERT, UPDATE and DELETE on the table waits (minutes, on a large table). And
nothing sets ``lock_timeout``: while the CREATE INDEX waits for its lock behind a long
transaction, every write queues behind it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_prompts_model", "prompts", ["model"])


def downgrade() -> None:
    op.drop_index("ix_prompts_model", table_name="prompts")
