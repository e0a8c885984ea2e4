"""Sync across devices: what changed in a user's tasks since a cursor, so that a device that
applies each answer and keeps its cursor ends with exactly the server's tasks.

Why no change is missed or applied out of order, with any number of writers and instances:

- A number taken when a write starts (a sequence, a timestamp) is not the order writes commit
  in: a reader that has seen 12 can miss 11 committing a moment later.
- On PostgreSQL each task carries the id of the transaction that last wrote it (`change_seq`, set
  by a trigger), and each deleted task leaves a tombstone carrying the deleting transaction's.
  A cursor holds a snapshot (`pg_current_snapshot()`: which transactions had committed when it
  was taken). The next answer is every task and tombstone whose transaction is visible in the
  answer's own snapshot and was not in the cursor's: a transaction still running is in neither,
  so it waits for a later answer, whatever order ids were handed out in; one that committed
  between the two is in exactly one window. Nothing is locked: writers pay for one trigger.
- On SQLite one transaction writes at a time: a counter bumped by every write (`sync_clock`)
  numbers writes in the order they commit, and a cursor holds the last number seen.
- A long answer is cut into pages (`limit`); the pages of one answer share its window (the
  continuation cursor keeps its upper bound), in (`change_seq`, `id`) order, and only the last
  page's cursor moves the window on. A task appears at most once per window, in its state at the
  window's end: a device applying the pages in order applies every change once, in order.
- Tombstones are kept SYNC_RETENTION_DAYS; a cursor older than that is refused (410), since
  deletions before it may be forgotten: the device then syncs from scratch.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    inspect,
    null,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.types import UserDefinedType
from sqlmodel import col

from todo_api.core.cursors import ALTERED, SYNC, seal, unseal
from todo_api.core.database import Database
from todo_api.core.errors import InvalidCursor, SyncCursorExpired
from todo_api.core.models import SyncClock, Task, TaskTombstone, UTCDateTime
from todo_api.tasks.task_json import DIALECTS, task_object

logger = logging.getLogger(__name__)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
_SNAPSHOT = re.compile(r"(?P<xmin>[0-9]{1,19}):[0-9]{1,19}:([0-9]{1,19}(,[0-9]{1,19})*)?")


class ChangesParams(BaseModel):
    """The query parameters of `GET /api/{user_id}/changes`."""

    model_config = ConfigDict(extra="forbid")

    since: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = Field(
        default=None,
        description="The `cursor` of the previous answer; without it, every task (a full sync)",
    )
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = Field(
        default=DEFAULT_LIMIT,
        description="At most this many tasks and deleted ids in one answer; `has_more` says "
        "to ask again with the new cursor",
    )


class ChangesPublic(BaseModel):
    """An answer of `/changes`: apply `tasks` (their state now) and `deleted`, keep `cursor`."""

    tasks: list[Any] = Field(description="Tasks created or changed since the cursor, as they are")
    deleted: list[int] = Field(description="Ids of tasks deleted since the cursor")
    cursor: str = Field(description="Send it as `since` next time")
    has_more: bool = Field(description="More changes follow: ask again now with `cursor`")


@dataclass(frozen=True, slots=True)
class _Window:
    """Where an answer starts: after `since` (None: from the start), up to `upper` (None: the
    answer's own snapshot), after the task `after` (a page's last) within it."""

    issued: datetime
    since: str | int | None
    upper: str | int | None
    after: tuple[int, int] | None


class _Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


class _PgSnapshot(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "pg_snapshot"


_TASK_SEQ: ColumnElement[int] = inspect(Task).columns["change_seq"]
_TASK_ID: ColumnElement[int] = inspect(Task).columns["id"]
_TOMBSTONE_SEQ: ColumnElement[int] = inspect(TaskTombstone).columns["change_seq"]


def _visible(seq: ColumnElement[int], snapshot: str) -> ColumnElement[bool]:
    """Whether the transaction `seq` had committed in the snapshot bound as `snapshot`."""
    xid = cast(cast(seq, Text), _Xid8())
    taken = cast(bindparam(snapshot, type_=Text), _PgSnapshot())
    return func.pg_visible_in_snapshot(xid, taken, type_=Boolean)


def _in_window(
    dialect: str, seq: ColumnElement[int], since: bool, upper: bool
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if dialect == "postgresql":
        if since:
            # Every transaction below the snapshot's xmin had ended when it was taken.
            conditions.append(seq >= bindparam("since_xmin", type_=BigInteger()))
            conditions.append(~_visible(seq, "since"))
        if upper:
            conditions.append(_visible(seq, "upper"))
    else:
        if since:
            conditions.append(seq > bindparam("since", type_=BigInteger()))
        if upper:
            conditions.append(seq <= bindparam("upper", type_=BigInteger()))
    return conditions


def _statement(dialect: str, since: bool, upper: bool, after: bool) -> Select[Any]:
    """One page of a window: tasks and (after a cursor) tombstones, by (change_seq, id), with
    the database's own position now (its snapshot, or SQLite's clock) in every row, and in the
    one row of an empty page."""
    tasks_seq = _TASK_SEQ
    tasks = select(
        task_object(dialect).label("task"), tasks_seq.label("seq"), _TASK_ID.label("id")
    ).where(
        col(Task.user_id) == bindparam("owner_id"),
        *_in_window(dialect, tasks_seq, since, upper),
    )
    parts: list[Any] = [tasks]
    if since:
        gone_seq = _TOMBSTONE_SEQ
        parts.append(
            select(
                # A tombstone has no task to show: its id goes to `deleted`.
                cast(null(), Text).label("task"),
                gone_seq.label("seq"),
                col(TaskTombstone.task_id).label("id"),
            ).where(
                col(TaskTombstone.user_id) == bindparam("owner_id"),
                *_in_window(dialect, gone_seq, since, upper),
            )
        )
    changed = union_all(*parts).subquery("changed")
    page = select(changed).order_by(changed.c.seq, changed.c.id)
    if after:
        position = tuple_(changed.c.seq, changed.c.id)
        page = page.where(position > tuple_(bindparam("after_seq"), bindparam("after_id")))
    rows = page.limit(bindparam("limit")).subquery("page")
    if dialect == "postgresql":
        now: ColumnElement[Any] = cast(func.pg_current_snapshot(), Text)
        position_now = select(now.label("now")).subquery("position")
    else:
        position_now = (
            select(col(SyncClock.seq).label("now"))
            .where(col(SyncClock.id) == 1)
            .subquery("position")
        )
    return (
        select(position_now.c.now, rows.c.task, rows.c.seq, rows.c.id)
        .select_from(position_now.outerjoin(rows, true()))
        .order_by(rows.c.seq, rows.c.id)
    )


_STATEMENTS = {
    (dialect, since, upper, after): _statement(dialect, since, upper, after)
    for dialect in DIALECTS
    for since in (False, True)
    for upper in (False, True)
    for after in (False, True)
}


@dataclass(frozen=True, slots=True)
class Change:
    """One task changed (`task`: its JSON now) or deleted (`task` None), and the cursor that
    resumes right after it: a live stream's event id."""

    task: str | None
    task_id: int
    cursor: str


@dataclass(frozen=True, slots=True)
class ChangesPage:
    changes: list[Change]
    cursor: str
    has_more: bool


def read_changes(
    connection: Connection,
    user_id: str,
    since_cursor: str | None,
    limit: int,
    retention: timedelta,
    now: datetime,
) -> ChangesPage:
    """One page of what changed in the user's tasks after `since_cursor` (everything, without)."""
    dialect = connection.dialect.name
    window = _decode(since_cursor, user_id, dialect, retention, now) if since_cursor else None
    since = window.since if window else None
    upper = window.upper if window else None
    after = window.after if window else None
    values: dict[str, Any] = {"owner_id": user_id, "limit": limit + 1}
    if since is not None:
        values |= _since_values(dialect, since)
    if upper is not None:
        values["upper"] = upper
    if after is not None:
        values["after_seq"], values["after_id"] = after
    key = (dialect, since is not None, upper is not None, after is not None)
    rows = connection.execute(_STATEMENTS[key], values).all()
    end = upper if upper is not None else rows[0].now
    found = [row for row in rows if row.id is not None]
    more = len(found) > limit
    shown = found[:limit]
    issued = window.issued if window else now
    # Within the window, after each row; after the window's last, the next window.
    cursors = [_encode(user_id, issued, since, end, (row.seq, row.id)) for row in shown]
    if not more:
        cursors[-1:] = [_encode(user_id, now, end, None, None)]
    listed = [Change(row.task, row.id, cursor) for row, cursor in zip(shown, cursors, strict=False)]
    last = cursors[-1] if shown else _encode(user_id, now, end, None, None)
    return ChangesPage(listed, last, more)


def changes(
    connection: Connection,
    user_id: str,
    params: ChangesParams,
    retention: timedelta,
    now: datetime,
) -> str:
    """The answer to `/changes`, as the JSON text the client receives."""
    page = read_changes(connection, user_id, params.since, params.limit, retention, now)
    tasks = ",".join(change.task for change in page.changes if change.task is not None)
    deleted = [change.task_id for change in page.changes if change.task is None]
    return (
        '{"tasks":['
        + tasks
        + '],"deleted":'
        + orjson.dumps(deleted).decode()
        + ',"cursor":'
        + orjson.dumps(page.cursor).decode()
        + ',"has_more":'
        + ("true" if page.has_more else "false")
        + "}"
    )


def _since_values(dialect: str, since: str | int) -> dict[str, Any]:
    if dialect != "postgresql":
        return {"since": since}
    found = _SNAPSHOT.fullmatch(str(since))
    assert found is not None  # checked when the cursor was read
    return {"since": since, "since_xmin": int(found["xmin"])}


def _position_statement(dialect: str) -> Select[Any]:
    if dialect == "postgresql":
        return select(cast(func.pg_current_snapshot(), Text))
    return select(col(SyncClock.seq)).where(col(SyncClock.id) == 1)


def _changed_users_statement(dialect: str) -> Select[Any]:
    """Which of the users asked for have a task written or deleted after `since`."""
    tasks = select(col(Task.user_id)).where(
        col(Task.user_id).in_(bindparam("users", expanding=True)),
        *_in_window(dialect, _TASK_SEQ, since=True, upper=False),
    )
    gone = select(col(TaskTombstone.user_id)).where(
        col(TaskTombstone.user_id).in_(bindparam("users", expanding=True)),
        *_in_window(dialect, _TOMBSTONE_SEQ, since=True, upper=False),
    )
    either = union_all(tasks, gone).subquery("changed")
    return select(either.c.user_id).distinct()


_POSITION = {dialect: _position_statement(dialect) for dialect in DIALECTS}
_CHANGED_USERS = {dialect: _changed_users_statement(dialect) for dialect in DIALECTS}


def position(connection: Connection) -> str | int:
    """Where the database's writes stand now: a snapshot (PostgreSQL) or a count (SQLite)."""
    now: str | int = connection.execute(_POSITION[connection.dialect.name]).scalar_one()
    return now


def start_cursor(
    connection: Connection,
    user_id: str,
    resume: str | None,
    parameter: str,
    retention: timedelta,
    now: datetime,
) -> str:
    """Where a live stream starts: the cursor it resumes from, given as `parameter` and checked
    (422, 410), or the position now, so that it sends what changes from here on."""
    if resume is not None:
        _decode(resume, user_id, connection.dialect.name, retention, now, parameter)
        return resume
    return _encode(user_id, now, position(connection), None, None)


def users_with_changes(
    connection: Connection, users: list[str], since: str | int
) -> tuple[set[str], str | int]:
    """Which of `users` have changes after position `since`, and the position now: what one
    instance asks, for every user with an open stream at once."""
    dialect = connection.dialect.name
    now = position(connection)
    values = {"users": users} | _since_values(dialect, since)
    changed = set(connection.execute(_CHANGED_USERS[dialect], values).scalars())
    return changed, now


def _encode(
    user_id: str,
    issued: datetime,
    since: str | int | None,
    upper: str | int | None,
    after: tuple[int, int] | None,
) -> str:
    payload: dict[str, Any] = {"t": int(issued.timestamp()), "s": since}
    if upper is not None:
        payload |= {"u": upper, "a": list(after) if after else None}
    return seal(payload, SYNC, user_id)


def _decode(
    cursor: str,
    user_id: str,
    dialect: str,
    retention: timedelta,
    now: datetime,
    parameter: str = "since",
) -> _Window:
    payload = unseal(cursor, SYNC, parameter, user_id)
    issued_at, since, upper, after = (payload.get(k) for k in ("t", "s", "u", "a"))
    if type(issued_at) is not int or not _position(since, dialect, nullable=True):
        raise InvalidCursor(ALTERED, parameter)
    if upper is not None and not _position(upper, dialect, nullable=False):
        raise InvalidCursor(ALTERED, parameter)
    if after is not None and not (
        isinstance(after, list)
        and len(after) == 2
        and all(type(v) is int and 0 <= v < 2**63 for v in after)
    ):
        raise InvalidCursor(ALTERED, parameter)
    issued = datetime.fromtimestamp(issued_at, UTC)
    if now - issued > retention:
        raise SyncCursorExpired
    return _Window(issued, since, upper, (after[0], after[1]) if after else None)


def _position(value: object, dialect: str, *, nullable: bool) -> bool:
    """Whether a cursor's position is one this database made: a snapshot or a counter."""
    if value is None:
        return nullable
    if dialect == "postgresql":
        return isinstance(value, str) and _SNAPSHOT.fullmatch(value) is not None
    return type(value) is int and 0 <= value < 2**63


_PURGE_BATCH = 1000


def purge_tombstones(connection: Connection, older_than: datetime) -> int:
    """Forgets deletions older than `older_than`, a batch at a time (each its own short
    statement: writers never wait on it for long). Returns how many."""
    batch = (
        select(col(TaskTombstone.task_id))
        .where(col(TaskTombstone.deleted_at) < bindparam("before", type_=UTCDateTime()))
        .limit(_PURGE_BATCH)
    )
    statement = delete(TaskTombstone).where(col(TaskTombstone.task_id).in_(batch.scalar_subquery()))
    total = 0
    while True:
        removed = connection.execute(statement, {"before": older_than}).rowcount
        total += removed
        if removed < _PURGE_BATCH:
            return total


_PURGE_EVERY_SECONDS = 3600


@asynccontextmanager
async def purging(database: Database, retention: timedelta) -> AsyncIterator[None]:
    """While the app runs: forgets deletions older than the retention, now and every hour. Every
    instance does it; a purge that finds nothing costs one indexed statement."""

    async def purge_forever() -> None:
        while True:
            try:
                await database.run(purge_tombstones, datetime.now(UTC) - retention)
            except Exception:  # the database away for a while: try again next time
                logger.warning("tombstone purge failed; retrying in an hour", exc_info=True)
            await asyncio.sleep(_PURGE_EVERY_SECONDS)

    task = asyncio.create_task(purge_forever())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
