"""search: the trigram indexes hold each task's owner too, so that `q` reads one user's matches

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The trigram indexes of 0005 held every user's keys: for a common word the planner could read
# every user's matches (4 % of a 5,000,000-row table) to keep one user's, and it chose that
# when fresh statistics made the word look rare (docs/benchmarks.md). With user_id in the same
# GIN index (btree_gin: trusted, on Neon and in Debian's postgresql-contrib), a search reads the
# caller's matches only.
_TRIGRAM = {
    "title_key": ("ix_tasks_title_key_trgm", "ix_tasks_user_id_title_key_trgm"),
    "description_key": ("ix_tasks_description_key_trgm", "ix_tasks_user_id_description_key_trgm"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for column, (old, new) in _TRIGRAM.items():
        op.create_index(
            new,
            "tasks",
            ["user_id", column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )
        op.drop_index(old, table_name="tasks")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, (old, new) in _TRIGRAM.items():
        op.create_index(
            old, "tasks", [column], postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
        )
        op.drop_index(new, table_name="tasks")
