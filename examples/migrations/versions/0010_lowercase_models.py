"""Model names in lower case ("GPT-4o" -> "gpt-4o"). IRREVERSIBLE (a demonstration).

The original spelling is lost: the downgrade cannot restore it, and says so.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE prompts SET model = lower(model) WHERE model <> lower(model)")


def downgrade() -> None:
    raise NotImplementedError("the original spelling of model names is lost")
