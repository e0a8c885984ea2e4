"""The calendar feed: a user's tasks as an RFC 5545 VCALENDAR of VTODOs, built with `icalendar`,
for calendar apps (through the Bearer route, or the secret address of `feed_secrets`).

A task due at a local time is DUE in its zone (TZID), with that zone's VTIMEZONE, covering the
years the feed's dates fall in; a task due on a day without a time is DUE as a DATE. A
series' open occurrence carries the rule from its DUE on (COUNT less the occurrences before it;
UNTIL a DATE or a UTC time, as DUE is). No DTSTART: RFC 5545 wants a VTODO's DUE later than its
DTSTART, and a task has no start; calendar apps recur a task without one from its DUE.
"""

import zoneinfo
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from icalendar import Alarm, Calendar, Todo, vRecur
from sqlalchemy import Connection, bindparam, inspect, select

from todo_api.core.models import Priority, Task
from todo_api.tasks.recurrence import Series

_COLUMNS = inspect(Task).columns
_FIELDS = (
    "id",
    "title",
    "description",
    "completed",
    "completed_at",
    "created_at",
    "updated_at",
    "priority",
    "tags",
    "due_date",
    "due_time",
    "timezone",
    "recurrence",
    "series_start",
    "next_task_id",
    "reminders",
)
_TASKS = (
    select(*(_COLUMNS[name] for name in _FIELDS))
    .where(_COLUMNS["user_id"] == bindparam("owner_id"))
    .order_by(_COLUMNS["id"])
)
# RFC 5545's PRIORITY: 1 the highest, 9 the lowest; `none` leaves it out (0, undefined).
_PRIORITY = {Priority.HIGH: 1, Priority.MEDIUM: 5, Priority.LOW: 9}
PRODUCT_ID = "-//Todo API//Tasks//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"


def uid(task_id: int) -> str:
    """A task's UID: the same in every feed, for as long as the task exists."""
    return f"task-{task_id}@todo-api"


def tasks_of(connection: Connection, user_id: str) -> Sequence[Any]:
    """What the feed shows of each of the user's tasks."""
    return connection.execute(_TASKS, {"owner_id": user_id}).all()


def calendar(tasks: Sequence[Any], now: datetime) -> bytes:
    """The body of a `.ics` answer. Pure Python, about a third of a millisecond a task: run it
    in a worker thread, not on the event loop (docs/benchmarks.md)."""
    feed = Calendar()
    feed.add("prodid", PRODUCT_ID)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    days = [task.due_date for task in tasks if task.due_date]
    for task in tasks:
        feed.add_component(_todo(task, now))
    if days:
        # VTIMEZONEs whose rules cover every date in the feed (a year either side).
        feed.add_missing_timezones(
            first_date=date(max(min(days).year - 1, 1), 1, 1),
            last_date=date(min(max(days).year + 1, 9999), 12, 31),
        )
    body: bytes = feed.to_ical()
    return body


def _todo(task: Any, now: datetime) -> Todo:
    todo = Todo()
    todo.add("uid", uid(task.id))
    todo.add("dtstamp", now)
    todo.add("created", task.created_at)
    todo.add("last-modified", task.updated_at)
    todo.add("summary", task.title)
    if task.description:
        todo.add("description", task.description)
    todo.add("status", "COMPLETED" if task.completed else "NEEDS-ACTION")
    if task.completed_at is not None:
        todo.add("completed", task.completed_at)
    if task.priority in _PRIORITY:
        todo.add("priority", _PRIORITY[task.priority])
    if task.tags:
        todo.add("categories", task.tags)
    if task.due_date is None:
        return todo
    due = _when(task.due_date, task.due_time, task.timezone)
    todo.add("due", due)
    # The series goes on from its last occurrence only: the ones before it, each followed by its
    # successor, are history, and a rule on each would show the same dates over and over.
    if task.recurrence is not None and task.next_task_id is None:
        start = min(task.series_start or task.due_date, task.due_date)
        rule = Series(task.recurrence, start, task.due_time, task.timezone).calendar_rule(
            task.due_date
        )
        if rule is not None:
            todo.add("rrule", vRecur.from_ical(rule))
    for minutes in task.reminders:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", task.title)
        # Relative to DUE (RELATED=END: a VTODO's end is its due time).
        alarm.add("trigger", timedelta(minutes=-minutes), parameters={"RELATED": "END"})
        todo.add_component(alarm)
    return todo


def _when(day: date, at: time | None, timezone: str | None) -> date | datetime:
    """A DATE for a day without a time; a local time in its zone (UTC without one)."""
    if at is None:
        return day
    return datetime.combine(day, at, zoneinfo.ZoneInfo(timezone) if timezone else UTC)
