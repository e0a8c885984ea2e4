"""time: recurring tasks (recurrence, the series' start, the occurrence before and after),
reminders and task_reminders (an index of them kept by triggers), and calendar_feeds

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# On every insert and delete of a task with reminders, and every change of its reminders or
# due_at, its rows in task_reminders are made anew: one per reminder, at due_at less its
# minutes (none while the task has no due_at).
_POSTGRESQL = [
    """
    CREATE FUNCTION index_task_reminders() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM task_reminders WHERE task_id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.due_at IS NOT NULL THEN
            INSERT INTO task_reminders (user_id, remind_at, task_id)
            SELECT NEW.user_id, NEW.due_at - make_interval(mins => m.value::int), NEW.id
            FROM json_array_elements_text(NEW.reminders) AS m(value);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    # Only for tasks that have reminders: most have none (as for tags, migration 0006).
    """
    CREATE TRIGGER tasks_index_reminders_insert AFTER INSERT ON tasks
    FOR EACH ROW WHEN (NEW.reminders::text <> '[]') EXECUTE FUNCTION index_task_reminders()
    """,
    """
    CREATE TRIGGER tasks_index_reminders_delete AFTER DELETE ON tasks
    FOR EACH ROW WHEN (OLD.reminders::text <> '[]') EXECUTE FUNCTION index_task_reminders()
    """,
    """
    CREATE TRIGGER tasks_index_reminders_update AFTER UPDATE OF reminders, due_at ON tasks
    FOR EACH ROW WHEN (OLD.reminders::text <> '[]' OR NEW.reminders::text <> '[]')
    EXECUTE FUNCTION index_task_reminders()
    """,
]
# SQLite keeps a datetime as text, `YYYY-MM-DD HH:MM:SS.ffffff` (as SQLAlchemy writes it); its
# strftime gives milliseconds, so three zeros make the same six digits (due_at is whole minutes).
_SQLITE_INSERT = """
    INSERT INTO task_reminders (user_id, remind_at, task_id)
    SELECT NEW.user_id,
        strftime('%Y-%m-%d %H:%M:%f', NEW.due_at, '-' || m.value || ' minutes') || '000', NEW.id
    FROM json_each(NEW.reminders) AS m WHERE NEW.due_at IS NOT NULL;
"""
_SQLITE_DELETE = "DELETE FROM task_reminders WHERE task_id = OLD.id;"
_SQLITE = [
    "CREATE TRIGGER tasks_index_reminders_insert AFTER INSERT ON tasks "
    "WHEN NEW.reminders <> '[]' BEGIN " + _SQLITE_INSERT + " END",
    "CREATE TRIGGER tasks_index_reminders_delete AFTER DELETE ON tasks "
    "WHEN OLD.reminders <> '[]' BEGIN " + _SQLITE_DELETE + " END",
    "CREATE TRIGGER tasks_index_reminders_update AFTER UPDATE OF reminders, due_at ON tasks "
    "WHEN OLD.reminders <> '[]' OR NEW.reminders <> '[]' BEGIN "
    + _SQLITE_DELETE
    + _SQLITE_INSERT
    + " END",
]


def upgrade() -> None:
    op.add_column("tasks", sa.Column("recurrence", sa.String(length=500), nullable=True))
    op.add_column("tasks", sa.Column("series_start", sa.Date(), nullable=True))
    op.add_column("tasks", sa.Column("previous_task_id", _ID, nullable=True))
    op.add_column("tasks", sa.Column("next_task_id", _ID, nullable=True))
    op.add_column("tasks", sa.Column("reminders", sa.JSON(), server_default="[]", nullable=False))
    op.create_index("ux_tasks_previous_task_id", "tasks", ["previous_task_id"], unique=True)
    op.create_table(
        "task_reminders",
        sa.Column("user_id", sa.String(length=255), primary_key=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("task_id", _ID, primary_key=True),
    )
    op.create_index("ix_task_reminders_task_id", "task_reminders", ["task_id"])
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)
    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.String(length=255), primary_key=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_calendar_feeds_secret_hash", "calendar_feeds", ["secret_hash"], unique=True)


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER tasks_index_reminders_{name}" + ("" if sqlite else " ON tasks"))
    if not sqlite:
        op.execute("DROP FUNCTION index_task_reminders()")
    op.drop_table("task_reminders")
    op.drop_index("ux_tasks_previous_task_id", table_name="tasks")
    for column in ("reminders", "next_task_id", "previous_task_id", "series_start", "recurrence"):
        op.drop_column("tasks", column)
