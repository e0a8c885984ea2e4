"""tags: tasks.tags and tag_keys, and task_tags, an index of them kept by triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

# On every insert, delete and change of a task's tags, its rows in task_tags are made anew from
# the two arrays (names and keys, in the same order).
_POSTGRESQL = [
    """
    CREATE FUNCTION index_task_tags() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM task_tags WHERE task_id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO task_tags (user_id, key, task_id, name)
            SELECT NEW.user_id, k.value, NEW.id, n.value
            FROM json_array_elements_text(NEW.tag_keys) WITH ORDINALITY AS k(value, i)
            JOIN json_array_elements_text(NEW.tags) WITH ORDINALITY AS n(value, i) USING (i);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    # Only for tasks that have tags: most have none, and a trigger function costs a create
    # about a tenth of its time (docs/benchmarks.md).
    """
    CREATE TRIGGER tasks_index_tags_insert AFTER INSERT ON tasks
    FOR EACH ROW WHEN (NEW.tags::text <> '[]') EXECUTE FUNCTION index_task_tags()
    """,
    """
    CREATE TRIGGER tasks_index_tags_delete AFTER DELETE ON tasks
    FOR EACH ROW WHEN (OLD.tags::text <> '[]') EXECUTE FUNCTION index_task_tags()
    """,
    """
    CREATE TRIGGER tasks_index_tags_update AFTER UPDATE OF tags ON tasks
    FOR EACH ROW WHEN (OLD.tags::text <> '[]' OR NEW.tags::text <> '[]')
    EXECUTE FUNCTION index_task_tags()
    """,
]
_SQLITE_INSERT = """
    INSERT INTO task_tags (user_id, key, task_id, name)
    SELECT NEW.user_id, k.value, NEW.id, n.value
    FROM json_each(NEW.tag_keys) AS k JOIN json_each(NEW.tags) AS n ON n.key = k.key;
"""
_SQLITE_DELETE = "DELETE FROM task_tags WHERE task_id = OLD.id;"
_SQLITE = [
    "CREATE TRIGGER tasks_index_tags_insert AFTER INSERT ON tasks BEGIN " + _SQLITE_INSERT + " END",
    "CREATE TRIGGER tasks_index_tags_delete AFTER DELETE ON tasks BEGIN " + _SQLITE_DELETE + " END",
    "CREATE TRIGGER tasks_index_tags_update AFTER UPDATE OF tags ON tasks BEGIN "
    + _SQLITE_DELETE
    + _SQLITE_INSERT
    + " END",
]


def upgrade() -> None:
    op.add_column("tasks", sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
    op.add_column("tasks", sa.Column("tag_keys", sa.JSON(), server_default="[]", nullable=False))
    op.create_table(
        "task_tags",
        sa.Column("user_id", sa.String(length=255), primary_key=True),
        sa.Column("key", _KEY, primary_key=True),
        sa.Column(
            "task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
        ),
        sa.Column("name", sa.String(length=40), nullable=False),
    )
    op.create_index("ix_task_tags_task_id", "task_tags", ["task_id"])
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER tasks_index_tags_{name}" + ("" if sqlite else " ON tasks"))
    if not sqlite:
        op.execute("DROP FUNCTION index_task_tags()")
    op.drop_table("task_tags")
    op.drop_column("tasks", "tag_keys")
    op.drop_column("tasks", "tags")
