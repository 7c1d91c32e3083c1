"""Every prompt names its model. UNSAFE (a demonstration).

SET NOT NULL reads the whole table to prove there is no NULL, under an ACCESS EXCLUSIVE lock:
no read or write of ``prompts`` meanwhile. Revision 0003 shows the safe way (a validated
CHECK first, which SET NOT NULL then relies on without reading the table).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("UPDATE prompts SET model = 'unknown' WHERE model IS NULL")
    op.alter_column("prompts", "model", existing_type=sa.String(50), nullable=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.alter_column("prompts", "model", existing_type=sa.String(50), nullable=True)
