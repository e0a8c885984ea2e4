"""The database tables. The schema itself comes from the migrations; a test keeps both in step."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Dialect, Identity, Index, Integer
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

USER_ID_MAX = 255
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
IDEMPOTENCY_KEY_MAX = 255


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored and returned in UTC with an offset, on PostgreSQL and on SQLite.

    SQLite keeps no time zone, so a value read back would be naive without this.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    # AUTOINCREMENT on SQLite so that a deleted task's id is never handed out again.
    __table_args__ = (
        Index("ix_tasks_user_id_completed", "user_id", "completed"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
        ),
    )
    user_id: str = Field(max_length=USER_ID_MAX, index=True)
    title: str = Field(max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    completed: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class Owner(SQLModel, table=True):
    """One row per user who has held a task: how many tasks they hold now.

    Triggers on `tasks` (migration 0003) keep `tasks` right on every insert and delete, whatever
    statement makes them. A create checks the limit against this row, not against a count of
    the user's tasks: concurrent creates of one user queue on it (PostgreSQL row lock, SQLite's
    write lock), while a count under READ COMMITTED cannot see rows not yet committed.
    """

    __tablename__ = "owners"

    user_id: str = Field(max_length=USER_ID_MAX, primary_key=True)
    tasks: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class IdempotencyKey(SQLModel, table=True):
    """A create retried with the same `Idempotency-Key` gets this stored answer, not a new task."""

    __tablename__ = "idempotency_keys"

    user_id: str = Field(max_length=USER_ID_MAX, primary_key=True)
    key: str = Field(max_length=IDEMPOTENCY_KEY_MAX, primary_key=True)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response_body: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
