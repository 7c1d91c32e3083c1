"""Reviewers and a closed list of statuses. UNSAFE (a demonstration).

Adding a FOREIGN KEY or a CHECK constraint to a table that holds rows reads the whole table to
validate them, under a lock that blocks writes (SHARE ROW EXCLUSIVE on both tables of a foreign
key, ACCESS EXCLUSIVE for a CHECK). Added NOT VALID, the constraint holds for new rows at once;
VALIDATE CONSTRAINT then checks the old rows under a lock that lets writes go on.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("research_items", sa.Column("reviewer_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_research_items_reviewer_id_users", "research_items", "users", ["reviewer_id"], ["id"]
    )
    op.create_check_constraint(
        "ck_research_items_status",
        "research_items",
        "status IN ('draft', 'in_review', 'published')",
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_constraint("ck_research_items_status", "research_items", type_="check")
    op.drop_constraint("fk_research_items_reviewer_id_users", "research_items", type_="foreignkey")
    op.drop_column("research_items", "reviewer_id")
