"""Where tasks are stored and read. Every statement starts from one owner's tasks.

Each operation is one statement (writes use RETURNING), and every statement that answers with
tasks has the database build their JSON (`task_json`): what it returns is the response body.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    not_,
    select,
    update,
)
from sqlmodel import col

from todo_api.models import Task
from todo_api.schemas import TaskCreate, TaskUpdate
from todo_api.task_json import DIALECTS, task_array, task_object

# One task, or a list of them, as JSON text: the body of the answer.
TaskJSON = str


def owned_by(user_id: str | BindParameter[str]) -> ColumnElement[bool]:
    return col(Task.user_id) == user_id


def one_of(
    user_id: str | BindParameter[str], task_id: int | BindParameter[int]
) -> ColumnElement[bool]:
    return (col(Task.id) == task_id) & owned_by(user_id)


# The two reads are built once per database, with bound parameters: building a statement per
# request costs more than a fifth of the read's time in Python.
_LIST = {name: task_array(name, owned_by(bindparam("user_id"))) for name in DIALECTS}
_GET = {
    name: select(task_object(name)).where(one_of(bindparam("user_id"), bindparam("task_id")))
    for name in DIALECTS
}


def list_tasks(connection: Connection, user_id: str) -> TaskJSON:
    result = connection.execute(_LIST[connection.dialect.name], {"user_id": user_id})
    return str(result.scalar_one())


def get_task(connection: Connection, user_id: str, task_id: int) -> TaskJSON | None:
    statement = _GET[connection.dialect.name]
    result = connection.execute(statement, {"user_id": user_id, "task_id": task_id})
    return result.scalar_one_or_none()


def create_task(
    connection: Connection, user_id: str, data: TaskCreate, *, limit: int
) -> TaskJSON | None:
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
    statement = (
        insert(Task).from_select(list(values), row).returning(task_object(connection.dialect.name))
    )
    result = connection.execute(statement)
    return result.scalar_one_or_none()


def replace_task(
    connection: Connection, user_id: str, task_id: int, data: TaskUpdate
) -> TaskJSON | None:
    changes = data.model_dump(exclude_unset=True)
    changes["updated_at"] = datetime.now(UTC)
    return _update(connection, user_id, task_id, changes)


def toggle_task(connection: Connection, user_id: str, task_id: int) -> TaskJSON | None:
    # Flipped by the database in one statement, so concurrent toggles never lose one another.
    changes = {"completed": not_(col(Task.completed)), "updated_at": datetime.now(UTC)}
    return _update(connection, user_id, task_id, changes)


def delete_task(connection: Connection, user_id: str, task_id: int) -> bool:
    statement = delete(Task).where(one_of(user_id, task_id)).returning(col(Task.id))
    result = connection.execute(statement)
    return result.first() is not None


def _update(
    connection: Connection, user_id: str, task_id: int, changes: dict[str, Any]
) -> TaskJSON | None:
    statement = (
        update(Task)
        .where(one_of(user_id, task_id))
        .values(changes)
        .returning(task_object(connection.dialect.name))
    )
    result = connection.execute(statement)
    return result.scalar_one_or_none()
