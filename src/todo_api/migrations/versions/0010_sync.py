"""sync: the write that last changed each task (tasks.change_seq), tombstones of deleted tasks,
and on SQLite the clock that numbers its writes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# PostgreSQL: each task written carries the id of the transaction that wrote it, and each
# deleted one leaves a tombstone carrying its deleting transaction's id; `sync.py` says why a
# snapshot of those ids tells exactly what a device has not seen yet.
_POSTGRESQL = [
    """
    CREATE FUNCTION stamp_task_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.change_seq := pg_current_xact_id()::text::bigint;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_stamp_change BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION stamp_task_change()
    """,
    """
    CREATE FUNCTION bury_task() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO task_tombstones (task_id, user_id, change_seq, deleted_at)
        VALUES (OLD.id, OLD.user_id, pg_current_xact_id()::text::bigint, now());
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_bury AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION bury_task()
    """,
]
# SQLite writes one transaction at a time: numbering each write from one counter orders them as
# they commit. The number is set after the row is written (a BEFORE trigger cannot change it);
# SQLite does not fire a trigger from its own statement, and the WHEN keeps that so if it ever did.
_SQLITE = [
    """
    CREATE TRIGGER tasks_stamp_insert AFTER INSERT ON tasks BEGIN
        UPDATE sync_clock SET seq = seq + 1 WHERE id = 1;
        UPDATE tasks SET change_seq = (SELECT seq FROM sync_clock WHERE id = 1) WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER tasks_stamp_update AFTER UPDATE ON tasks
    WHEN NEW.change_seq = OLD.change_seq BEGIN
        UPDATE sync_clock SET seq = seq + 1 WHERE id = 1;
        UPDATE tasks SET change_seq = (SELECT seq FROM sync_clock WHERE id = 1) WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER tasks_bury AFTER DELETE ON tasks BEGIN
        UPDATE sync_clock SET seq = seq + 1 WHERE id = 1;
        INSERT INTO task_tombstones (task_id, user_id, change_seq, deleted_at)
        VALUES (OLD.id, OLD.user_id, (SELECT seq FROM sync_clock WHERE id = 1),
                strftime('%Y-%m-%d %H:%M:%f', 'now') || '000');
    END
    """,
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "tasks", sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_index("ix_tasks_user_id_change_seq_id", "tasks", ["user_id", "change_seq", "id"])
    op.create_table(
        "task_tombstones",
        sa.Column("task_id", _ID, primary_key=True),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_task_tombstones_user_id_change_seq",
        "task_tombstones",
        ["user_id", "change_seq", "task_id"],
    )
    op.create_index("ix_task_tombstones_deleted_at", "task_tombstones", ["deleted_at"])
    if sqlite:
        op.create_table(
            "sync_clock",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("seq", sa.BigInteger(), nullable=False),
        )
        # Tasks already stored count as written at 1: a first sync sends them all anyway.
        op.execute("INSERT INTO sync_clock (id, seq) VALUES (1, 1)")
        op.execute("UPDATE tasks SET change_seq = 1")
    else:
        op.execute("UPDATE tasks SET change_seq = pg_current_xact_id()::text::bigint")
    for statement in _SQLITE if sqlite else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    triggers = ("stamp_insert", "stamp_update", "bury") if sqlite else ("stamp_change", "bury")
    for name in triggers:
        op.execute(f"DROP TRIGGER tasks_{name}" + ("" if sqlite else " ON tasks"))
    if sqlite:
        op.drop_table("sync_clock")
    else:
        op.execute("DROP FUNCTION stamp_task_change()")
        op.execute("DROP FUNCTION bury_task()")
    op.drop_table("task_tombstones")
    op.drop_index("ix_tasks_user_id_change_seq_id", table_name="tasks")
    op.drop_column("tasks", "change_seq")
