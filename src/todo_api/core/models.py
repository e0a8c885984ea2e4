"""The database tables. The schema itself comes from the migrations; a test keeps both in step."""

from datetime import UTC, date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Dialect,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel, col

USER_ID_MAX = 255
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
IDEMPOTENCY_KEY_MAX = 255
TIMEZONE_MAX = 64
TAG_MAX = 40
TAGS_PER_TASK = 20
TAGS_PER_USER = 500
REMINDERS_PER_TASK = 5
REMINDER_MAX_MINUTES = 4 * 7 * 24 * 60
RECURRENCE_MAX = 500


class Priority(StrEnum):
    """A task's priority, in ascending order: `none` < `low` < `medium` < `high`."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


_PRIORITIES = list(Priority)


class PriorityRank(TypeDecorator[Priority]):
    """A priority stored as its rank (0 for `none` to 3 for `high`): it sorts by rank, and an
    index on it gives that order."""

    impl = SmallInteger()
    cache_ok = True

    def process_bind_param(self, value: Priority | None, dialect: Dialect) -> int | None:
        return None if value is None else _PRIORITIES.index(Priority(value))

    def process_result_value(self, value: int | None, dialect: Dialect) -> Priority | None:
        return None if value is None else _PRIORITIES[value]


# Text compared byte by byte on both databases (UTF-8 bytes order as code points do), whatever
# the PostgreSQL database's collation: the keys below sort the same everywhere.
_KEY = Text().with_variant(Text(collation="C"), "postgresql")


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
    # Indexes for the orders lists use most, each ending in `id` (ties break on it), so that a
    # page in that order is an index range scan: by id, pending first, by due date, by title
    # (ascending), and the most important, newest, last changed and last completed first
    # (descending, nulls last). The other directions sort the user's matching tasks, at most the
    # per-user task limit (docs/benchmarks.md). Substring search has its own index (below); tags,
    # the task_tags table.
    __table_args__ = (
        Index("ix_tasks_user_id_id", "user_id", "id"),
        Index("ix_tasks_user_id_completed_id", "user_id", "completed", "id"),
        Index("ix_tasks_user_id_due_at_id", "user_id", "due_at", "id"),
        Index("ix_tasks_user_id_title_key_id", "user_id", "title_key", "id"),
        Index("ux_tasks_previous_task_id", "previous_task_id", unique=True),
        Index("ix_tasks_user_id_change_seq_id", "user_id", "change_seq", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
        ),
    )
    user_id: str = Field(max_length=USER_ID_MAX)
    title: str = Field(max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    completed: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    priority: Priority = Field(
        default=Priority.NONE,
        sa_column=Column(PriorityRank(), nullable=False, server_default="0"),
    )
    due_date: date | None = Field(default=None, sa_column=Column(Date()))
    due_time: time | None = Field(default=None, sa_column=Column(Time()))
    timezone: str | None = Field(default=None, sa_column=Column(String(TIMEZONE_MAX)))
    # Derived on every write (`derived.py`), never sent by a client: the instant the task is
    # due, and the case-folded title and description that sorting and search compare.
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    title_key: str = Field(sa_column=Column(_KEY, nullable=False, server_default=""))
    description_key: str = Field(sa_column=Column(_KEY, nullable=False, server_default=""))
    # The tags as the client sees them, and their case-folded keys, in the same order.
    tags: list[str] = Field(
        default_factory=list, sa_column=Column(JSON(), nullable=False, server_default="[]")
    )
    tag_keys: list[str] = Field(
        default_factory=list, sa_column=Column(JSON(), nullable=False, server_default="[]")
    )
    # Recurring tasks (`recurrence.py`): the rule, the day the series started (its anchor: set
    # by the server when the rule or the schedule changes), the occurrence this one follows
    # (unique: an occurrence has one successor, ever, whatever runs concurrently) and the one
    # that follows it. No foreign keys: deleting either task never touches the other.
    recurrence: str | None = Field(default=None, sa_column=Column(String(RECURRENCE_MAX)))
    series_start: date | None = Field(default=None, sa_column=Column(Date()))
    previous_task_id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"))
    )
    next_task_id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"))
    )
    # Minutes before due_at, ascending; `task_reminders` indexes when each falls.
    reminders: list[int] = Field(
        default_factory=list, sa_column=Column(JSON(), nullable=False, server_default="[]")
    )
    # The write that last changed the task, set by a trigger on every insert and update
    # (`sync.py`, migration 0010): on PostgreSQL its transaction's id, on SQLite a counter.
    change_seq: int = Field(
        default=0, sa_column=Column(BigInteger(), nullable=False, server_default="0")
    )


# `sort=-priority` (and the others) in the order it asks for: descending, nulls last, then `id`
# ascending, which an ascending index read backwards does not give (migration 0007).
for _name in ("priority", "created_at", "updated_at", "completed_at"):
    Index(
        f"ix_tasks_user_id_{_name}_desc_id",
        col(Task.user_id),
        col(getattr(Task, _name)).desc().nulls_last(),
        col(Task.id),
    )


# The length of the windows `search_keys` takes: a `q` shorter than this has none, and is
# searched without the index.
SEARCH_WINDOW = 3


_TextExpression = ColumnElement[str] | Mapped[str]


def search_keys(
    owner: _TextExpression, title: _TextExpression, description: _TextExpression
) -> ColumnElement[list[int]]:
    """PostgreSQL only: the keys of every window of three characters of `title` and
    `description`, each hashed with a bucket of `owner` (the function of migration 0011). A
    text that contains `q` has every key of `q`'s windows, so the index of these keys finds the
    candidates for `q`, and `LIKE` then checks them."""
    return func.task_search_keys(owner, title, description, type_=ARRAY(Integer()))


# Substring search (`q`): with `user_id` in the same GIN index (btree_gin), a search reads the
# posting lists of the caller's bucket only, then drops the bucket's other users.
SEARCH_KEYS = search_keys(col(Task.user_id), col(Task.title_key), col(Task.description_key))
Index(
    "ix_tasks_user_id_search_keys",
    col(Task.user_id),
    SEARCH_KEYS,
    postgresql_using="gin",
    postgresql_with={"gin_pending_list_limit": 512},
    info={"postgresql_only": True},
)


class TaskTag(SQLModel, table=True):
    """Which of a user's tasks carry which tag: an index of `tasks.tags`, kept by triggers on
    `tasks` (migration 0006) on every insert, delete and change of tags. A tag filter and the
    user's tag list read it by (user_id, key) instead of every task's JSON."""

    __tablename__ = "task_tags"
    __table_args__ = (Index("ix_task_tags_task_id", "task_id"),)

    user_id: str = Field(max_length=USER_ID_MAX, primary_key=True)
    key: str = Field(sa_column=Column(_KEY, primary_key=True))
    task_id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    name: str = Field(max_length=TAG_MAX)


class TaskReminder(SQLModel, table=True):
    """When each reminder of a user's tasks falls (`due_at` less its minutes): an index of
    `tasks.reminders`, kept by triggers on `tasks` (migration 0008) whenever a task's reminders
    or due_at change, so a window of reminders is a range of this table's key, whatever the
    number of tasks."""

    __tablename__ = "task_reminders"
    __table_args__ = (Index("ix_task_reminders_task_id", "task_id"),)

    user_id: str = Field(max_length=USER_ID_MAX, primary_key=True)
    remind_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    task_id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )


class TaskTombstone(SQLModel, table=True):
    """A deleted task, remembered for SYNC_RETENTION_DAYS so that `/changes` can tell devices
    (made by a trigger on every delete, migration 0010)."""

    __tablename__ = "task_tombstones"
    __table_args__ = (
        Index("ix_task_tombstones_user_id_change_seq", "user_id", "change_seq", "task_id"),
        Index("ix_task_tombstones_deleted_at", "deleted_at"),
    )

    task_id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    user_id: str = Field(max_length=USER_ID_MAX)
    change_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    deleted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SyncClock(SQLModel, table=True):
    """SQLite only: the counter that orders its writes for `/changes` (one writer at a time, so
    the order they take numbers in is the order they commit in)."""

    __tablename__ = "sync_clock"
    __table_args__ = {"info": {"sqlite_only": True}}

    id: int = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))


class CalendarFeed(SQLModel, table=True):
    """A user's secret calendar address: only the SHA-256 of its secret is kept."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (Index("ux_calendar_feeds_secret_hash", "secret_hash", unique=True),)

    user_id: str = Field(max_length=USER_ID_MAX, primary_key=True)
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


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
