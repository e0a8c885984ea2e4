"""Where tasks are stored and read. Every statement starts from one owner's tasks.

Each operation is one statement (writes use RETURNING), and every statement that answers with
tasks has the database build their JSON (`task_json`): what it returns is the response body.
The store raises the API's errors itself (not found, a failed precondition) and returns data;
routes render it.

Statements are built once, with bound parameters, and reused: building one per request (and
SQLAlchemy's cache key for it) cost a fifth of a write's time in Python.

Columns written come from the request schemas (`TaskCreate`, `TaskPatch`): each of their fields
is the column of the same name, so a field added there is stored with no list here to update.
The store itself sets only what the server owns: the owner, timestamps, `version`,
`completed_at`, and a recurring task's series (its start, and the occurrences before and after).

Completing a recurring task creates its next occurrence in the same transaction. A toggle, the
hot path, stays one statement: it leaves out (by its WHERE) a pending recurring task that has
no successor yet, and only then is the completion done again in a transaction (`_in_series`).
"""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, NoReturn

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Row,
    Select,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    literal,
    not_,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningDelete
from sqlmodel import col

from todo_api.core.database import Database, atomic
from todo_api.core.errors import (
    ConcurrentChanges,
    PreconditionFailed,
    TagLimitReached,
    TaskLimitReached,
    TaskNotFound,
    ValidationFailed,
)
from todo_api.core.models import TAGS_PER_USER, Owner, Task, TaskTag
from todo_api.tasks.derived import DERIVED, DUE_FIELDS, case_key, derived_columns
from todo_api.tasks.listing import ListParams, Page, page, page_statement
from todo_api.tasks.recurrence import Series, series_start
from todo_api.tasks.schemas import (
    LATEST_DUE_DATE,
    NEEDS_A_DUE_DATE,
    TaskCreate,
    TaskPatch,
    lacking_a_due_date,
)
from todo_api.tasks.task_json import DIALECTS, task_array, task_object

# A list of tasks as JSON text: the body of the answer.
TaskJSON = str
# The versions an If-Match header accepts; None when any version will do (no header, or `*`).
Versions = frozenset[int] | None

_COLUMNS = inspect(Task).columns
# What a create writes: the client's fields, what is derived from them, then the server's own;
# the database adds id and version.
_NEW_TASK = (
    *TaskCreate.model_fields,
    *DERIVED,
    "user_id",
    "completed_at",
    "created_at",
    "updated_at",
    "series_start",
    "previous_task_id",
)
# What a change may write: the client's fields, what is derived from them, and the series' start.
_CHANGEABLE = (*TaskPatch.model_fields, *DERIVED, "series_start")
# The fields that decide when a task is due and what follows from it (its reminders, its next
# occurrence): a change to one is merged with the others, read first, and checked whole. A task
# changed between that read and the write is read again, this many times at most.
SCHEDULE = DUE_FIELDS | {"recurrence", "reminders"}
_MERGE_ATTEMPTS = 5
# What the next occurrence of a recurring task takes from the one completed.
_CARRIED = (
    "title",
    "description",
    "priority",
    "tags",
    "due_time",
    "timezone",
    "recurrence",
    "reminders",
    "series_start",
)

_OWNED = col(Task.user_id) == bindparam("owner_id")
_ONE = (col(Task.id) == bindparam("task_id")) & _OWNED
_MATCHING = col(Task.version).in_(bindparam("versions", expanding=True))
# Not a pending recurring task that has no successor yet: its completion is `_in_series`.
_NOT_AWAITING_A_SUCCESSOR = (
    col(Task.completed) | col(Task.recurrence).is_(None) | col(Task.next_task_id).is_not(None)
)


@dataclass(frozen=True, slots=True)
class StoredTask:
    """One task as the client sees it (`json`), and its version, which is its ETag."""

    json: str
    version: int


def _task(dialect: str) -> tuple[ColumnElement[str], Any]:
    return task_object(dialect), col(Task.version)


def _list(dialect: str) -> Select[str]:
    return task_array(dialect, _OWNED)


@cache
def _get(dialect: str, conditional: bool) -> Select[str, int]:
    return select(*_task(dialect)).where(_ONE & _MATCHING if conditional else _ONE)


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
    # The database fills in the rest (id, version) from its own defaults.
    statement = insert(Task).from_select(list(_NEW_TASK), row, include_defaults=False)
    return statement.returning(*_task(dialect))


def _changed(
    values: dict[str, Any], conditional: bool, dialect: str, *more: ColumnElement[bool]
) -> Update:
    """An update of one task that counts as a change: `updated_at` and `version` move. With
    `conditional`, only while the task's version is one of `versions` (If-Match): check and
    write are one statement, so of two writers holding the same ETag exactly one wins."""
    where = and_(_ONE, *more, *((_MATCHING,) if conditional else ()))
    values |= {"updated_at": bindparam("now"), "version": col(Task.version) + 1}
    return update(Task).where(where).values(values).returning(*_task(dialect))


@cache
def _toggle(dialect: str, conditional: bool, in_series: bool = False) -> Update:
    # Flipped by the database in one statement, so concurrent toggles never lose one another.
    # In SET, `completed` is the value before the flip.
    became_completed = case((col(Task.completed), null()), else_=bindparam("now"))
    values = {"completed": not_(col(Task.completed)), "completed_at": became_completed}
    if in_series:
        return _changed(values, conditional, dialect)
    return _changed(values, conditional, dialect, _NOT_AWAITING_A_SUCCESSOR)


@cache
def _patch(dialect: str, fields: frozenset[str], conditional: bool) -> Update:
    """A PUT's or PATCH's statement for the fields it sends: one shape per set of fields."""
    values: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=_COLUMNS[name].type)
        for name in _CHANGEABLE
        if name in fields
    }
    if "completed" in fields:
        # Set when the task becomes completed, kept while it stays so, cleared when reopened.
        keep_or_now = case((col(Task.completed), col(Task.completed_at)), else_=bindparam("now"))
        values["completed_at"] = case((bindparam("new_completed"), keep_or_now), else_=null())
    return _changed(values, conditional, dialect)


@cache
def _delete(conditional: bool) -> ReturningDelete[int | None]:
    return delete(Task).where(_ONE & _MATCHING if conditional else _ONE).returning(col(Task.id))


def _exists() -> Select[int]:
    return select(literal(1)).where(_ONE)


def _schedule_now() -> Select[Any]:
    schedule = (_COLUMNS[name] for name in sorted(SCHEDULE))
    return select(*schedule, col(Task.series_start), col(Task.version)).where(_ONE)


def _series_now() -> Select[Any]:
    """What `_follow` needs of a task, read under the lock `_in_series` holds."""
    wanted = {*_CARRIED, "completed", "due_date", "next_task_id"}
    return select(*(_COLUMNS[name] for name in sorted(wanted))).where(_ONE)


def _locked() -> Select[Any]:
    # FOR UPDATE on PostgreSQL; SQLite has one writer at a time, and `hold_owner` made this
    # transaction the writer already.
    return select(col(Task.version)).where(_ONE).with_for_update()


def _link(dialect: str) -> Update:
    """Names a task's successor. Part of the completion that made it: not a change of its own
    (version and updated_at stay as the completion left them)."""
    next_task: dict[str, Any] = {"next_task_id": bindparam("next_task_id")}
    return update(Task).where(_ONE).values(next_task).returning(*_task(dialect))


_LIST = {name: _list(name) for name in DIALECTS}
_CREATE = {name: _create(name) for name in DIALECTS}
_EXISTS = _exists()
_HOLD_OWNER = {
    name: dialect_insert(Owner)
    .values(user_id=bindparam("owner_id"), tasks=0)
    .on_conflict_do_update(index_elements=[col(Owner.user_id)], set_={"tasks": col(Owner.tasks)})
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_USERS_TAGS = col(TaskTag.user_id) == bindparam("owner_id")
_KNOWN_SPELLINGS = (
    select(col(TaskTag.key), func.min(col(TaskTag.name)))
    .where(_USERS_TAGS, col(TaskTag.key).in_(bindparam("keys", expanding=True)))
    .group_by(col(TaskTag.key))
)
_DISTINCT_TAGS = select(func.count(func.distinct(col(TaskTag.key)))).where(_USERS_TAGS)
_SCHEDULE_NOW = _schedule_now()
_SERIES_NOW = _series_now()
_LOCKED = _locked()
_LINK = {name: _link(name) for name in DIALECTS}


def list_tasks(connection: Connection, user_id: str) -> TaskJSON:
    """Every task of the user, by id: the list without parameters, as one value the database
    aggregates (the fastest way, and what a v1 client asks for)."""
    result = connection.execute(_LIST[connection.dialect.name], {"owner_id": user_id})
    return str(result.scalar_one())


async def every_task(db: Database, user_id: str) -> TaskJSON:
    """`list_tasks`, read through `Database.scalar`: the v1 list, the most frequent request."""
    return str(await db.scalar(_LIST[db.dialect], {"owner_id": user_id}))


async def read_page(db: Database, user_id: str, params: ListParams) -> Page:
    """`list_page`, read through `Database.rows`: a page's statement is one read too."""
    statement, values = page_statement(db.dialect, user_id, params)
    return page(await db.rows(statement, values), params, user_id)


def list_page(connection: Connection, user_id: str, params: ListParams) -> Page:
    """The tasks the parameters ask for, one page of them with `limit`."""
    statement, values = page_statement(connection.dialect.name, user_id, params)
    return page(connection.execute(statement, values).all(), params, user_id)


def get_task(
    connection: Connection, user_id: str, task_id: int, versions: Versions = None
) -> StoredTask:
    statement = _get(connection.dialect.name, versions is not None)
    return _one(connection, statement, _parameters(user_id, task_id, versions))


def create_task(
    connection: Connection, user_id: str, data: TaskCreate, *, limit: int
) -> StoredTask | None:
    """The new task, or None when the user already holds `limit` tasks."""
    values = data.model_dump()
    values |= {"series_start": series_start(values, None), "previous_task_id": None}
    with atomic(connection) if values["tags"] else nullcontext():
        if values["tags"]:
            values["tags"] = _spelled_as_known(connection, user_id, values["tags"])
        return _insert(connection, user_id, values | derived_columns(values), limit)


def _insert(
    connection: Connection, user_id: str, values: dict[str, Any], limit: int
) -> StoredTask | None:
    now = datetime.now(UTC)
    completed = values.get("completed", False)
    parameters = {f"new_{name}": value for name, value in values.items()}
    parameters |= {
        "owner_id": user_id,
        "limit": limit,
        "new_user_id": user_id,
        "new_completed": completed,
        "new_completed_at": now if completed else None,
        "new_created_at": now,
        "new_updated_at": now,
    }
    row = connection.execute(_CREATE[connection.dialect.name], parameters).first()
    return None if row is None else StoredTask(row[0], row[1])


def change_task(
    connection: Connection,
    user_id: str,
    task_id: int,
    changes: TaskPatch,
    versions: Versions = None,
    *,
    limit: int,
) -> StoredTask:
    """Applies the fields the client sent (a PUT or a JSON Merge Patch). A patch that sends no
    field changes nothing, and answers the task as it is. One that sets `completed` may
    complete a recurring task: `_in_series`, which also creates its next occurrence."""
    sent = changes.model_dump(exclude_unset=True)
    if not sent:
        return get_task(connection, user_id, task_id, versions)
    if sent.get("completed"):
        return _in_series(connection, user_id, task_id, versions, limit, sent=sent)
    if not sent.get("tags"):
        return _merge_and_change(connection, user_id, task_id, sent, versions)
    with atomic(connection):
        return _merge_and_change(connection, user_id, task_id, sent, versions)


def _merge_and_change(
    connection: Connection,
    user_id: str,
    task_id: int,
    sent: dict[str, Any],
    versions: Versions,
) -> StoredTask:
    if sent.get("tags"):
        sent["tags"] = _spelled_as_known(connection, user_id, sent["tags"])
    if not sent.keys() & SCHEDULE:
        return _change(connection, user_id, task_id, sent | derived_columns(sent), versions)
    for _ in range(_MERGE_ATTEMPTS):
        current = connection.execute(_SCHEDULE_NOW, _parameters(user_id, task_id, None)).first()
        if current is None:
            raise TaskNotFound
        if versions is not None and current.version not in versions:
            raise PreconditionFailed
        schedule = {name: sent.get(name, getattr(current, name)) for name in SCHEDULE}
        if lacking := lacking_a_due_date(schedule):
            raise ValidationFailed(field_errors={name: [NEEDS_A_DUE_DATE] for name in lacking})
        values = sent | derived_columns(sent | schedule)
        values["series_start"] = series_start(schedule, current._mapping)
        try:
            # Written only if the task is still as read: due_at is computed from what it holds.
            return _change(connection, user_id, task_id, values, frozenset({current.version}))
        except PreconditionFailed:
            continue
    raise ConcurrentChanges


def _change(
    connection: Connection,
    user_id: str,
    task_id: int,
    values: dict[str, Any],
    versions: Versions,
) -> StoredTask:
    statement = _patch(connection.dialect.name, frozenset(values), versions is not None)
    parameters = _parameters(user_id, task_id, versions, now=datetime.now(UTC))
    parameters |= {f"new_{name}": value for name, value in values.items()}
    return _one(connection, statement, parameters)


def toggle_task(
    connection: Connection, user_id: str, task_id: int, versions: Versions = None, *, limit: int
) -> StoredTask:
    statement = _toggle(connection.dialect.name, versions is not None)
    parameters = _parameters(user_id, task_id, versions, now=datetime.now(UTC))
    row: Row[str, int] | None = connection.execute(statement, parameters).first()
    if row is None:
        # Not the caller's, not the version asked for, or a recurring task to complete.
        return _in_series(connection, user_id, task_id, versions, limit)
    return StoredTask(*row)


def _in_series(
    connection: Connection,
    user_id: str,
    task_id: int,
    versions: Versions,
    limit: int,
    *,
    sent: dict[str, Any] | None = None,
) -> StoredTask:
    """A toggle (or the change `sent`) that may complete a recurring task, and its next
    occurrence, in one transaction that holds the task's row: concurrent completions of one
    occurrence take turns, and the first leaves `next_task_id` set for the others to see."""
    with atomic(connection):
        hold_owner(connection, user_id)
        parameters = _parameters(user_id, task_id, None)
        version = connection.execute(_LOCKED, parameters).scalar()
        if version is None:
            raise TaskNotFound
        if versions is not None and version not in versions:
            raise PreconditionFailed
        if sent is None:
            statement = _toggle(connection.dialect.name, False, in_series=True)
            task = _one(connection, statement, parameters | {"now": datetime.now(UTC)})
        else:
            task = _merge_and_change(connection, user_id, task_id, sent, None)
        return _follow(connection, user_id, task_id, task, limit)


def _follow(
    connection: Connection, user_id: str, task_id: int, task: StoredTask, limit: int
) -> StoredTask:
    """Creates the next occurrence of a task just completed, if it recurs and has none yet:
    due on the first occurrence of its rule after this one that is not overdue. Nothing when the
    series has ended. The new task names this one (`previous_task_id`, unique in the database:
    a second successor cannot be stored, whatever the application does)."""
    parameters = _parameters(user_id, task_id, None)
    now = connection.execute(_SERIES_NOW, parameters).one()
    if not now.completed or now.recurrence is None or now.next_task_id is not None:
        return task
    series = Series(now.recurrence, now.series_start or now.due_date, now.due_time, now.timezone)
    due_date = series.next_due_date(now.due_date, datetime.now(UTC))
    if due_date is None or due_date > LATEST_DUE_DATE:
        return task
    values = {name: getattr(now, name) for name in _CARRIED}
    values |= {"due_date": due_date, "previous_task_id": task_id}
    successor = _insert(connection, user_id, values | derived_columns(values), limit)
    if successor is None:
        raise TaskLimitReached
    next_task_id = orjson.loads(successor.json)["id"]
    row = connection.execute(
        _LINK[connection.dialect.name], parameters | {"next_task_id": next_task_id}
    ).one()
    return StoredTask(*row)


def delete_task(
    connection: Connection, user_id: str, task_id: int, versions: Versions = None
) -> None:
    parameters = _parameters(user_id, task_id, versions)
    if connection.execute(_delete(versions is not None), parameters).first() is None:
        _refuse(connection, parameters)


def hold_owner(connection: Connection, user_id: str) -> None:
    """Locks the user's owner row (making it if need be) until the transaction ends: the writes
    of one user that touch tags take turns on it; other users' never wait."""
    connection.execute(_HOLD_OWNER[connection.dialect.name], {"owner_id": user_id})


def _spelled_as_known(connection: Connection, user_id: str, tags: list[str]) -> list[str]:
    """Each tag as the user first spelled it (`work` on a new task becomes the `Work` the user
    already has), and 409 when the new ones would take the user past TAGS_PER_USER.

    Holds the owner's row first (in the caller's transaction): writes of one user that bring
    tags then take turns, so two of them cannot both add the 500th tag or spell a new tag two
    ways."""
    hold_owner(connection, user_id)
    keys = [case_key(tag) for tag in tags]
    spellings = connection.execute(_KNOWN_SPELLINGS, {"owner_id": user_id, "keys": keys})
    known: dict[str, str] = {key: name for key, name in spellings}
    if any(key not in known for key in keys):
        held = connection.execute(_DISTINCT_TAGS, {"owner_id": user_id}).scalar_one()
        if held + len({key for key in keys if key not in known}) > TAGS_PER_USER:
            raise TagLimitReached
    return [known.get(key, tag) for key, tag in zip(keys, tags, strict=True)]


def _parameters(
    user_id: str, task_id: int, versions: Versions, **more: object
) -> dict[str, object]:
    parameters: dict[str, object] = {"owner_id": user_id, "task_id": task_id, **more}
    if versions is not None:
        parameters["versions"] = list(versions) or [0]  # no version is 0: nothing matches
    return parameters


def _one(connection: Connection, statement: Any, parameters: dict[str, object]) -> StoredTask:
    row: Row[str, int] | None = connection.execute(statement, parameters).first()
    if row is None:
        _refuse(connection, parameters)
    json, version = row
    return StoredTask(json, version)


def _refuse(connection: Connection, parameters: dict[str, object]) -> NoReturn:
    """Why a statement on one task touched no row: the task is not the caller's (404), or its
    version is not one that If-Match named (412). Asked only after a failure, so a request
    that succeeds makes one round trip."""
    if "versions" in parameters and connection.execute(_EXISTS, parameters).first() is not None:
        raise PreconditionFailed
    raise TaskNotFound
