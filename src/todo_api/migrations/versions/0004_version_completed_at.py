"""tasks: version (for ETags and If-Match) and completed_at

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column("tasks", sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    # When a v1 task became completed is not known; its last change is the closest there is
    # (a toggle moved updated_at).
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE completed")


def downgrade() -> None:
    op.drop_column("tasks", "completed_at")
    op.drop_column("tasks", "version")
