"""owners: each user's task count, kept by triggers, for an exact per-user task limit

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Row triggers: every insert and delete of a task, by any statement, moves its owner's count.
_POSTGRESQL = [
    """
    CREATE FUNCTION count_owner_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO owners (user_id, tasks) VALUES (NEW.user_id, 1)
            ON CONFLICT (user_id) DO UPDATE SET tasks = owners.tasks + 1;
        ELSE
            UPDATE owners SET tasks = tasks - 1 WHERE user_id = OLD.user_id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_count_owner_tasks AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION count_owner_tasks()
    """,
]
_SQLITE = [
    """
    CREATE TRIGGER tasks_count_owner_tasks_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO owners (user_id, tasks) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET tasks = tasks + 1;
    END
    """,
    """
    CREATE TRIGGER tasks_count_owner_tasks_delete AFTER DELETE ON tasks BEGIN
        UPDATE owners SET tasks = tasks - 1 WHERE user_id = OLD.user_id;
    END
    """,
]


def upgrade() -> None:
    op.create_table(
        "owners",
        sa.Column("user_id", sa.String(length=255), primary_key=True),
        sa.Column("tasks", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute(
        "INSERT INTO owners (user_id, tasks) SELECT user_id, count(*) FROM tasks GROUP BY user_id"
    )
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER tasks_count_owner_tasks_insert")
        op.execute("DROP TRIGGER tasks_count_owner_tasks_delete")
    else:
        op.execute("DROP TRIGGER tasks_count_owner_tasks ON tasks")
        op.execute("DROP FUNCTION count_owner_tasks()")
    op.drop_table("owners")
