"""Token counts of prompts: nullable first, populated, then constrained. A SAFE revision.

``token_count`` must end up NOT NULL, on a table that already holds prompts. Each step takes
its lock for an instant, never while reading the table:

1. add the column nullable (no rewrite, no scan);
2. populate it, in its own transaction (an autocommit block; a large table would be done in
   batches);
3. add ``CHECK (token_count IS NOT NULL) NOT VALID``: instant, existing rows are not read;
4. VALIDATE the constraint: reads the table, but under a SHARE UPDATE EXCLUSIVE lock that lets
   reads and writes go on;
5. SET NOT NULL: PostgreSQL (12 and later) sees the validated CHECK and does not read the table;
6. drop the CHECK, now redundant.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("prompts", sa.Column("token_count", sa.Integer(), nullable=True))
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        op.execute("UPDATE prompts SET token_count = length(text) / 4 WHERE token_count IS NULL")
        op.create_check_constraint(
            "ck_prompts_token_count_not_null",
            "prompts",
            "token_count IS NOT NULL",
            postgresql_not_valid=True,
        )
        op.execute("ALTER TABLE prompts VALIDATE CONSTRAINT ck_prompts_token_count_not_null")
        op.alter_column("prompts", "token_count", existing_type=sa.Integer(), nullable=False)
        # dbguard: allow squawk:ban-drop-constraint (NOT NULL now says what the CHECK said)
        op.drop_constraint("ck_prompts_token_count_not_null", "prompts", type_="check")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("prompts", "token_count")
