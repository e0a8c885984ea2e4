"""Where tasks are stored and read. Every statement starts from one owner's tasks.

Each operation is one statement (writes use RETURNING), and reads select plain columns rather
than building ORM objects: the rows go straight to JSON.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, inspect, literal, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from todo_api.models import Task
from todo_api.schemas import TaskCreate, TaskUpdate

TaskRow = dict[str, Any]

COLUMNS = (
    col(Task.id),
    col(Task.user_id),
    col(Task.title),
    col(Task.description),
    col(Task.completed),
    col(Task.created_at),
    col(Task.updated_at),
)


def owned_by(user_id: str) -> ColumnElement[bool]:
    return col(Task.user_id) == user_id


def one_of(user_id: str, task_id: int) -> ColumnElement[bool]:
    return (col(Task.id) == task_id) & owned_by(user_id)


async def list_tasks(session: AsyncSession, user_id: str) -> list[TaskRow]:
    statement = select(*COLUMNS).where(owned_by(user_id)).order_by(col(Task.id))
    result = await session.execute(statement)
    return [dict(row) for row in result.mappings()]


async def get_task(session: AsyncSession, user_id: str, task_id: int) -> TaskRow | None:
    result = await session.execute(select(*COLUMNS).where(one_of(user_id, task_id)))
    row = result.mappings().first()
    return None if row is None else dict(row)


async def create_task(
    session: AsyncSession, user_id: str, data: TaskCreate, *, limit: int
) -> TaskRow | None:
    """The new task, or None when the user already holds `limit` tasks.

    The count and the insert are one statement, so the limit costs no extra round trip.
    """
    now = datetime.now(UTC)
    values = {
        "user_id": user_id,
        "title": data.title,
        "description": data.description,
        "completed": False,
        "created_at": now,
        "updated_at": now,
    }
    held = select(func.count()).select_from(Task).where(owned_by(user_id)).scalar_subquery()
    columns = inspect(Task).columns
    row = select(
        *(literal(value, columns[name].type).label(name) for name, value in values.items())
    ).where(held < limit)
    statement = insert(Task).from_select(list(values), row).returning(*COLUMNS)
    result = await session.execute(statement)
    created = result.mappings().first()
    return None if created is None else dict(created)


async def replace_task(
    session: AsyncSession, user_id: str, task_id: int, data: TaskUpdate
) -> TaskRow | None:
    changes = data.model_dump(exclude_unset=True)
    changes["updated_at"] = datetime.now(UTC)
    return await _update(session, user_id, task_id, changes)


async def toggle_task(session: AsyncSession, user_id: str, task_id: int) -> TaskRow | None:
    # Flipped by the database in one statement, so concurrent toggles never lose one another.
    changes = {"completed": not_(col(Task.completed)), "updated_at": datetime.now(UTC)}
    return await _update(session, user_id, task_id, changes)


async def delete_task(session: AsyncSession, user_id: str, task_id: int) -> bool:
    statement = delete(Task).where(one_of(user_id, task_id)).returning(col(Task.id))
    result = await session.execute(statement)
    return result.first() is not None


async def _update(
    session: AsyncSession, user_id: str, task_id: int, changes: dict[str, Any]
) -> TaskRow | None:
    statement = update(Task).where(one_of(user_id, task_id)).values(changes).returning(*COLUMNS)
    result = await session.execute(statement)
    row = result.mappings().first()
    return None if row is None else dict(row)
