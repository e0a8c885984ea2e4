"""A user's tags across their tasks: the list with counts, renaming (and merging) a tag, and
taking one off every task. A tag is the same tag whatever its case (`case_key`), and the tasks
a rename or removal changes count as changed (`version`, `updated_at`).

Reads go through `task_tags`, the index the triggers keep of every task's tags; writes change
`tasks.tags` itself (the triggers then re-index), in one transaction that holds the owner's row,
as every write that brings tags does (`store._spelled_as_known`).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, bindparam, case, func, inspect, select, update
from sqlmodel import col

from todo_api.core.database import atomic
from todo_api.core.errors import TagNotFound
from todo_api.core.models import Task, TaskTag
from todo_api.tasks.derived import case_key
from todo_api.tasks.store import hold_owner

_OWNED = col(TaskTag.user_id) == bindparam("owner_id")
_TASK_ID: ColumnElement[int] = inspect(Task).columns["id"]
_SUMMARY = (
    select(
        func.min(col(TaskTag.name)),
        func.count(),
        func.sum(case((col(Task.completed), 0), else_=1)),
    )
    .join(Task, col(Task.id) == col(TaskTag.task_id))
    .where(_OWNED)
    .group_by(col(TaskTag.key))
    .order_by(col(TaskTag.key))
)
_THE_TAG = col(TaskTag.key) == bindparam("key")
_CARRYING = select(_TASK_ID, col(Task.tags)).where(
    col(Task.user_id) == bindparam("owner_id"),
    _TASK_ID.in_(select(col(TaskTag.task_id)).where(_OWNED, _THE_TAG)),
)
_COUNTS = _SUMMARY.where(_THE_TAG)
_SPELLING = select(func.min(col(TaskTag.name))).where(_OWNED, _THE_TAG)
_RETAG = (
    update(Task)
    .where(col(Task.id) == bindparam("task_id"), col(Task.user_id) == bindparam("owner_id"))
    .values(
        tags=bindparam("new_tags"),
        tag_keys=bindparam("new_tag_keys"),
        updated_at=bindparam("now"),
        version=col(Task.version) + 1,
    )
)


def summary(name: str, tasks: int, pending: int) -> dict[str, Any]:
    return {"name": name, "tasks": tasks, "pending": pending}


def list_tags(connection: Connection, user_id: str) -> str:
    """Every tag on at least one of the user's tasks, ordered case-insensitively by name, with
    how many tasks carry it and how many of those are pending; as JSON."""
    rows = connection.execute(_SUMMARY, {"owner_id": user_id})
    return orjson.dumps([summary(name, tasks, pending) for name, tasks, pending in rows]).decode()


def rename_tag(connection: Connection, user_id: str, name: str, new_name: str) -> dict[str, Any]:
    """Renames the tag on every task that carries it; into a tag the user already has (another
    name that compares equal), it merges, keeping that tag's spelling."""
    key, new_key = case_key(name), case_key(new_name)
    with atomic(connection):
        tasks = _carrying(connection, user_id, key)
        spelling = new_name
        if new_key != key:
            existing = connection.execute(_SPELLING, {"owner_id": user_id, "key": new_key})
            spelling = existing.scalar() or new_name
        _retag(connection, user_id, tasks, lambda tag: spelling if case_key(tag) == key else tag)
        counts = connection.execute(_COUNTS, {"owner_id": user_id, "key": new_key}).one()
    return summary(spelling, int(counts[1]), int(counts[2]))


def delete_tag(connection: Connection, user_id: str, name: str) -> None:
    """Takes the tag off every task that carries it."""
    key = case_key(name)
    with atomic(connection):
        tasks = _carrying(connection, user_id, key)
        _retag(connection, user_id, tasks, lambda tag: None if case_key(tag) == key else tag)


def _carrying(connection: Connection, user_id: str, key: str) -> list[tuple[int, list[str]]]:
    hold_owner(connection, user_id)
    rows = connection.execute(_CARRYING, {"owner_id": user_id, "key": key}).all()
    if not rows:
        raise TagNotFound
    return [(task_id, list(tags)) for task_id, tags in rows]


def _retag(
    connection: Connection,
    user_id: str,
    tasks: list[tuple[int, list[str]]],
    change: Callable[[str], str | None],
) -> None:
    """Writes each task's tags with `change` applied to each (None drops it), a tag that now
    appears twice kept once, where it first stood."""
    now = datetime.now(UTC)
    rows = []
    for task_id, tags in tasks:
        kept: dict[str, str] = {}
        for tag in tags:
            new = change(tag)
            if new is not None:
                kept.setdefault(case_key(new), new)
        rows.append(
            {
                "owner_id": user_id,
                "task_id": task_id,
                "new_tags": list(kept.values()),
                "new_tag_keys": list(kept),
                "now": now,
            }
        )
    connection.execute(_RETAG, rows)
