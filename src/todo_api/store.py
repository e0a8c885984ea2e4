"""Where tasks are stored and read. Every statement starts from one owner's tasks.

Each operation is one statement (writes use RETURNING), and every statement that answers with
tasks has the database build their JSON (`task_json`): what it returns is the response body.

Statements are built once, with bound parameters, and reused: building one per request (and
SQLAlchemy's cache key for it) cost a fifth of a write's time in Python.
"""

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Update,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    not_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.dml import ReturningDelete
from sqlmodel import col

from todo_api.models import Owner, Task
from todo_api.schemas import TaskCreate, TaskUpdate
from todo_api.task_json import DIALECTS, task_array, task_object

# One task, or a list of them, as JSON text: the body of the answer.
TaskJSON = str

_COLUMNS = inspect(Task).columns
# What a create sets; the database adds the id.
_NEW_TASK = ("user_id", "title", "description", "completed", "created_at", "updated_at")
# What a PUT may change, besides updated_at.
_REPLACEABLE = ("title", "description", "completed")

_OWNED = col(Task.user_id) == bindparam("owner_id")
_ONE = (col(Task.id) == bindparam("task_id")) & _OWNED


def _list(dialect: str) -> Select[str]:
    return task_array(dialect, _OWNED)


def _get(dialect: str) -> Select[str]:
    return select(task_object(dialect)).where(_ONE)


def _create(dialect: str) -> Insert:
    """The limit check and the insert are one statement: no extra round trip, no transaction.

    The check reads the owner's count (`Owner`, kept by triggers), never a count of tasks: under
    READ COMMITTED a count does not see another create that has not committed yet, and 50
    parallel creates against room for 5 stored up to 9.
    """
    values = (bindparam(f"new_{name}", type_=_COLUMNS[name].type) for name in _NEW_TASK)
    row = select(*(value.label(name) for value, name in zip(values, _NEW_TASK, strict=True)))
    if dialect == "postgresql":
        # An upsert that changes nothing locks the owner's row: a concurrent create of the same
        # user waits for this one to commit, then re-checks the count it left (PostgreSQL
        # evaluates ON CONFLICT's WHERE on the newest version of the row). Other users' creates
        # lock other rows and never wait.
        room = (
            postgresql.insert(Owner)
            .values(user_id=bindparam("owner_id"), tasks=0)
            .on_conflict_do_update(
                index_elements=[col(Owner.user_id)],
                set_={"tasks": col(Owner.tasks)},
                where=col(Owner.tasks) < bindparam("limit"),
            )
            .returning(col(Owner.user_id))
            .cte("room")
        )
        row = row.select_from(room)
    else:
        # SQLite runs one writing statement at a time, so reading the count inside it is exact.
        held = select(col(Owner.tasks)).where(col(Owner.user_id) == bindparam("owner_id"))
        row = row.where(func.coalesce(held.scalar_subquery(), 0) < bindparam("limit"))
    return insert(Task).from_select(list(_NEW_TASK), row).returning(task_object(dialect))


def _toggle(dialect: str) -> Update:
    # Flipped by the database in one statement, so concurrent toggles never lose one another.
    return (
        update(Task)
        .where(_ONE)
        .values(completed=not_(col(Task.completed)), updated_at=bindparam("new_updated_at"))
        .returning(task_object(dialect))
    )


def _delete() -> ReturningDelete[int | None]:
    return delete(Task).where(_ONE).returning(col(Task.id))


@cache
def _replace(dialect: str, fields: frozenset[str]) -> Update:
    """A PUT's statement for the fields it sends: at most four shapes per database."""
    names = [name for name in _REPLACEABLE if name in fields] + ["updated_at"]
    values = {name: bindparam(f"new_{name}", type_=_COLUMNS[name].type) for name in names}
    return update(Task).where(_ONE).values(values).returning(task_object(dialect))


_LIST = {name: _list(name) for name in DIALECTS}
_GET = {name: _get(name) for name in DIALECTS}
_CREATE = {name: _create(name) for name in DIALECTS}
_TOGGLE = {name: _toggle(name) for name in DIALECTS}
_DELETE = _delete()


def list_tasks(connection: Connection, user_id: str) -> TaskJSON:
    result = connection.execute(_LIST[connection.dialect.name], {"owner_id": user_id})
    return str(result.scalar_one())


def get_task(connection: Connection, user_id: str, task_id: int) -> TaskJSON | None:
    statement = _GET[connection.dialect.name]
    return connection.execute(statement, {"owner_id": user_id, "task_id": task_id}).scalar()


def create_task(
    connection: Connection, user_id: str, data: TaskCreate, *, limit: int
) -> TaskJSON | None:
    """The new task, or None when the user already holds `limit` tasks."""
    now = datetime.now(UTC)
    parameters = {
        "owner_id": user_id,
        "limit": limit,
        "new_user_id": user_id,
        "new_title": data.title,
        "new_description": data.description,
        "new_completed": False,
        "new_created_at": now,
        "new_updated_at": now,
    }
    return connection.execute(_CREATE[connection.dialect.name], parameters).scalar()


def replace_task(
    connection: Connection, user_id: str, task_id: int, data: TaskUpdate
) -> TaskJSON | None:
    changes = data.model_dump(exclude_unset=True)
    statement = _replace(connection.dialect.name, frozenset(changes))
    parameters = {f"new_{name}": value for name, value in changes.items()}
    parameters.update(owner_id=user_id, task_id=task_id, new_updated_at=datetime.now(UTC))
    return connection.execute(statement, parameters).scalar()


def toggle_task(connection: Connection, user_id: str, task_id: int) -> TaskJSON | None:
    parameters = {"owner_id": user_id, "task_id": task_id, "new_updated_at": datetime.now(UTC)}
    return connection.execute(_TOGGLE[connection.dialect.name], parameters).scalar()


def delete_task(connection: Connection, user_id: str, task_id: int) -> bool:
    result = connection.execute(_DELETE, {"owner_id": user_id, "task_id": task_id})
    return result.first() is not None
