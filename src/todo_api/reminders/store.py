"""Reminders: when a user's pending tasks ask to be reminded, within a window of time, which is
what a client needs to schedule its notifications.

Each reminder falls at the task's `due_at` less its minutes. `task_reminders` holds those
instants, kept by triggers on `tasks` (migration 0008) whenever a task's reminders or `due_at`
change: a rescheduled task moves its reminders with it, and a window is one range of that
table's key, however many tasks the user has.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import Connection, bindparam, func, select
from sqlmodel import col

from todo_api.core.models import Task, TaskReminder, UTCDateTime
from todo_api.tasks.listing import Instant
from todo_api.tasks.task_json import instant_text

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)


class ReminderParams(BaseModel):
    """The window of `GET /api/{user_id}/reminders`: from `from` (default: now) to `to`
    (default: a day later), at most 31 days."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Instant | None = Field(
        default=None,
        alias="from",
        description="Reminders at or after this instant (ISO 8601 with offset); default now",
    )
    end: Instant | None = Field(
        default=None,
        alias="to",
        description="Reminders before this instant; default 24 hours after `from`; at most "
        "31 days after it",
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start") or datetime.now(UTC)
        if end is not None and end <= start:
            raise ValueError("must be after `from` (default: now)")
        if end is not None and end - start > MAX_WINDOW:
            raise ValueError("must be at most 31 days after `from`")
        return end

    @property
    def window(self) -> tuple[datetime, datetime]:
        start = self.start or datetime.now(UTC)
        return start, self.end or start + DEFAULT_WINDOW


class ReminderPublic(BaseModel):
    """One reminder as a client sees it."""

    task_id: int
    title: str
    due_at: datetime
    remind_at: datetime = Field(description="When to remind: due_at less the reminder's minutes")


_WINDOW = (
    select(
        col(TaskReminder.task_id), col(Task.title), col(Task.due_at), col(TaskReminder.remind_at)
    )
    .join(Task, col(Task.id) == col(TaskReminder.task_id))
    .where(
        col(TaskReminder.user_id) == bindparam("owner_id"),
        col(TaskReminder.remind_at) >= bindparam("start", type_=UTCDateTime()),
        col(TaskReminder.remind_at) < bindparam("end", type_=UTCDateTime()),
        col(Task.completed).is_(False),
    )
    .order_by(col(TaskReminder.remind_at), col(TaskReminder.task_id))
)


_NEXT = (
    select(func.min(col(TaskReminder.remind_at)))
    .join(Task, col(Task.id) == col(TaskReminder.task_id))
    .where(
        col(TaskReminder.user_id) == bindparam("owner_id"),
        col(TaskReminder.remind_at) >= bindparam("start", type_=UTCDateTime()),
        col(Task.completed).is_(False),
    )
)


def reminders_between(connection: Connection, user_id: str, start: datetime, end: datetime) -> str:
    """The reminders of the user's pending tasks with start <= remind_at < end, in the order
    they fall (then by task), as the JSON array the client receives."""
    return orjson.dumps(reminders_due(connection, user_id, start, end)).decode()


def reminders_due(
    connection: Connection, user_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Those reminders, each as a client sees it (a live stream sends each as an event)."""
    rows = connection.execute(_WINDOW, {"owner_id": user_id, "start": start, "end": end})
    return [_shown(*row) for row in rows]


def next_reminder(connection: Connection, user_id: str, after: datetime) -> datetime | None:
    """When the user's next reminder at or after `after` falls: what a live stream waits for."""
    found: datetime | None = connection.execute(
        _NEXT, {"owner_id": user_id, "start": after}
    ).scalar()
    return found


def _shown(
    task_id: int, title: str, due_at: datetime | None, remind_at: datetime
) -> dict[str, Any]:
    # A task without due_at has no rows in task_reminders: due_at is never null here.
    assert due_at is not None
    return {
        "task_id": task_id,
        "title": title,
        "due_at": instant_text(due_at),
        "remind_at": instant_text(remind_at),
    }
