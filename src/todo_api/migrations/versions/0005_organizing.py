"""tasks: priority, due date, time and zone, due_at, the keys that sort and search compare;
an index for every filter and sort key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_ORDERED = {
    "ix_tasks_user_id_id": ["user_id", "id"],
    "ix_tasks_user_id_completed_id": ["user_id", "completed", "id"],
    "ix_tasks_user_id_due_at_id": ["user_id", "due_at", "id"],
    "ix_tasks_user_id_title_key_id": ["user_id", "title_key", "id"],
}
_TRIGRAM = {
    "ix_tasks_title_key_trgm": "title_key",
    "ix_tasks_description_key_trgm": "description_key",
}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "tasks", sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.add_column("tasks", sa.Column("due_date", sa.Date(), nullable=True))
    op.add_column("tasks", sa.Column("due_time", sa.Time(), nullable=True))
    op.add_column("tasks", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column("tasks", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tasks", sa.Column("title_key", _KEY, server_default="", nullable=False))
    op.add_column("tasks", sa.Column("description_key", _KEY, server_default="", nullable=False))
    _fill_keys()
    op.drop_index("ix_tasks_user_id", table_name="tasks")
    op.drop_index("ix_tasks_user_id_completed", table_name="tasks")
    for name, columns in _ORDERED.items():
        op.create_index(name, "tasks", columns)
    if postgresql:
        # Substring search (`q`) without reading every task of the user: available on Neon and
        # in Debian's postgresql-contrib; trusted, so the database's owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, column in _TRIGRAM.items():
            op.create_index(
                name,
                "tasks",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def _fill_keys() -> None:
    """The keys are Python's Unicode case folding, which neither database has: computed here,
    in batches, for the tasks that exist."""
    connection = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.BigInteger()),
        sa.column("title", sa.String()),
        sa.column("description", sa.String()),
        sa.column("title_key", sa.Text()),
        sa.column("description_key", sa.Text()),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(tasks.c.id, tasks.c.title, tasks.c.description)
            .where(tasks.c.id > last)
            .order_by(tasks.c.id)
            .limit(1000)
        ).all()
        if not rows:
            return
        connection.execute(
            tasks.update()
            .where(tasks.c.id == sa.bindparam("task_id"))
            .values(title_key=sa.bindparam("t"), description_key=sa.bindparam("d")),
            [
                {"task_id": id_, "t": _case_key(title), "d": _case_key(description or "")}
                for id_, title, description in rows
            ],
        )
        last = rows[-1][0]


def _case_key(text: str) -> str:
    # As todo_api.tasks.derived.case_key was when this migration was written.
    return unicodedata.normalize("NFKC", text.casefold())


def downgrade() -> None:
    for name in (*_TRIGRAM, *_ORDERED):
        op.drop_index(name, table_name="tasks", if_exists=True)
    op.create_index("ix_tasks_user_id_completed", "tasks", ["user_id", "completed"])
    op.create_index("ix_tasks_user_id", "tasks", ["user_id"])
    for column in (
        "description_key",
        "title_key",
        "due_at",
        "timezone",
        "due_time",
        "due_date",
        "priority",
    ):
        op.drop_column("tasks", column)
