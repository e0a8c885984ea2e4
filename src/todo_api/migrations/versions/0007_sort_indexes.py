"""sort indexes: the newest, most recently changed, most recently completed and most important
tasks first, as a page read from an index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Descending with nulls last, then `id` ascending: the order `sort=-<key>` asks for, which an
# ascending index read backwards does not give (nulls and ties would come the other way).
_DESCENDING = {
    "ix_tasks_user_id_priority_desc_id": "priority",
    "ix_tasks_user_id_created_at_desc_id": "created_at",
    "ix_tasks_user_id_updated_at_desc_id": "updated_at",
    "ix_tasks_user_id_completed_at_desc_id": "completed_at",
}


def upgrade() -> None:
    # SQLite puts nulls first ascending, so last descending, and refuses the words.
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, column in _DESCENDING.items():
        descending: sa.UnaryExpression[object] = sa.column(column).desc()
        key = descending.nulls_last() if postgresql else descending
        op.create_index(name, "tasks", [sa.column("user_id"), key, "id"])


def downgrade() -> None:
    for name in _DESCENDING:
        op.drop_index(name, table_name="tasks")
