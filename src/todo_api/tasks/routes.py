"""The task endpoints. Authentication and ownership are checked by OwnerRoute before anything
else; each handler validates its input, runs one statement from `store` (a create: a few, in
one transaction), and answers with the JSON the database built."""

from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import Header, Path, Request, status
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import Connection
from starlette.responses import Response

from todo_api.auth.guard import answers_directly
from todo_api.core.bodies import not_null_in_schema
from todo_api.core.database import Database, DatabaseDep
from todo_api.core.errors import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidCursor,
    NotEntityTags,
    PayloadTooLarge,
    PreconditionFailed,
    TaskLimitReached,
    TaskNotFound,
    UnsupportedMediaType,
)
from todo_api.core.http import (
    ETAG_HEADER,
    LINK_HEADER,
    LIST_ETAG_HEADER,
    JSONText,
    Responses,
    error_responses,
    not_modified,
    owner_router,
)
from todo_api.core.middleware import header_or_none
from todo_api.core.models import IDEMPOTENCY_KEY_MAX, USER_ID_MAX
from todo_api.core.settings import Settings
from todo_api.tasks import idempotency, store
from todo_api.tasks.conditional import (
    IfMatch,
    IfNoneMatch,
    list_etag,
    none_match,
    task_etag,
    versions_to_match,
)
from todo_api.tasks.listing import ListParams
from todo_api.tasks.query import ListParamsDep, next_link, valid_list_params
from todo_api.tasks.schemas import TaskCreate, TaskPatch, TaskPublic, TaskUpdate, canonical_integer

router = owner_router("tasks")

# OwnerRoute has checked that this is the token's user before the handler runs.
UserId = Annotated[
    str, Path(max_length=USER_ID_MAX, description="The signed-in user's id: the token's `sub`")
]
# The bounds before the validator: after it, pydantic publishes them as `ge`/`le`, which JSON
# Schema does not know (`minimum`/`maximum`).
TaskId = Annotated[
    int,
    Path(ge=-(2**63), le=2**63 - 1, description="The task's id, as a plain decimal"),
    BeforeValidator(canonical_integer),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string of visible ASCII characters, no spaces (a UUID, say): "
        "a retry with the same key and body returns the first answer instead of creating a "
        "second task",
        json_schema_extra=not_null_in_schema,
    ),
]
NOT_FOUND = error_responses(TaskNotFound)
WITH_BODY = error_responses(PayloadTooLarge, UnsupportedMediaType)
CONDITIONAL = error_responses(PreconditionFailed, NotEntityTags)
ONE_TASK: Responses = {status.HTTP_200_OK: {"headers": ETAG_HEADER}}
NOT_MODIFIED: Responses = {
    status.HTTP_304_NOT_MODIFIED: {"description": "If-None-Match named this ETag"},
    **error_responses(NotEntityTags),
}


async def _every_task(db: Database, user_id: str, if_none_match: str | None) -> Response:
    body = (await store.every_task(db, user_id)).encode()
    return _list_answer(body, if_none_match, {})


async def _page(
    request: Request, db: Database, user_id: str, params: ListParams, if_none_match: str | None
) -> Response:
    found = await store.read_page(db, user_id, params)
    headers = {}
    if found.next_cursor is not None:
        headers["Link"] = next_link(request, user_id, found.next_cursor)
    return _list_answer(found.body.encode(), if_none_match, headers)


def _list_answer(body: bytes, if_none_match: str | None, headers: dict[str, str]) -> Response:
    etag = list_etag(body)
    if none_match(if_none_match, etag):
        return not_modified(etag)
    return JSONText(body, headers={"ETag": etag, **headers})


async def _list_directly(request: Request) -> Response | None:
    """`list_tasks` for a request whose path and parameters are valid: the same answer, without
    FastAPI's dependency solving (see `answers_directly`); None leaves the request to it."""
    user_id: str = request.path_params["user_id"]
    if len(user_id) > USER_ID_MAX:
        return None  # the endpoint's 422
    db: Database = request.app.state.database
    if_none_match = header_or_none(request.scope, b"if-none-match")
    if not request.scope["query_string"] or not request.query_params:
        return await _every_task(db, user_id, if_none_match)
    params = valid_list_params(request)
    if params is None:
        return None  # the dependency's 422
    return await _page(request, db, user_id, params, if_none_match)


@router.get(
    "",
    response_model=list[TaskPublic],
    responses=NOT_MODIFIED
    | {status.HTTP_200_OK: {"headers": LIST_ETAG_HEADER | LINK_HEADER}}
    | error_responses(InvalidCursor),
    summary="List the caller's tasks",
    description="Without parameters, every task by id. The parameters filter (combined with "
    "AND), sort, and page (`limit`, then the `Link` header's next page).",
)
@answers_directly(_list_directly)
async def list_tasks(
    request: Request,
    user_id: UserId,
    db: DatabaseDep,
    params: ListParamsDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    if not request.query_params:
        return await _every_task(db, user_id, if_none_match)
    return await _page(request, db, user_id, params, if_none_match)


# What every route that creates a task (through `create`) may answer, besides its own.
CREATE_ERRORS = error_responses(
    PayloadTooLarge,
    UnsupportedMediaType,
    TaskLimitReached,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
)
CREATED_HEADERS: dict[str, Any] = {
    **ETAG_HEADER,
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier "
        "request with the same Idempotency-Key; absent otherwise",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


@router.post(
    "",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_ERRORS | {status.HTTP_201_CREATED: {"headers": CREATED_HEADERS}},
    summary="Create a task",
)
async def create_task(
    request: Request,
    user_id: UserId,
    body: TaskCreate,
    db: DatabaseDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    return await create(request, db, user_id, body, idempotency_key, body)


async def create(
    request: Request,
    db: Database,
    user_id: str,
    task: TaskCreate,
    idempotency_key: str | None,
    sent: BaseModel,
) -> Response:
    """Creates `task`, made from `sent` (the request's body: a retry with the same
    Idempotency-Key must send it again; quick add's reading of it may differ by then)."""
    settings: Settings = request.app.state.settings
    if idempotency_key is None:
        # One statement, atomic by itself: no transaction, one round trip instead of three.
        return await db.run(_create, user_id, task, None, settings)
    key = (idempotency_key, idempotency.fingerprint(sent))
    return await db.run_atomic(_create, user_id, task, key, settings)


def _create(
    connection: Connection,
    owner: str,
    body: TaskCreate,
    key: tuple[str, str] | None,
    settings: Settings,
) -> Response:
    """With a key (and the request's fingerprint), run in a transaction: the key's claim, the
    insert and the stored answer commit together, or not at all, so a refused create (409)
    leaves the key unused."""
    if key is not None:
        ttl = timedelta(seconds=settings.idempotency_key_ttl_seconds)
        stored = idempotency.claim(connection, owner, key[0], key[1], ttl)
        if stored is not None:
            # The task as it was created, whatever happened to it since: version 1.
            etag = task_etag(orjson.loads(stored.body).get("version", 1))
            headers = {"Idempotent-Replayed": "true", "ETag": etag}
            return JSONText(stored.body, stored.status_code, headers=headers)
    task = store.create_task(connection, owner, body, limit=settings.max_tasks_per_user)
    if task is None:
        raise TaskLimitReached
    if key is not None:
        idempotency.remember(connection, owner, key[0], status.HTTP_201_CREATED, task.json)
    return _answer(task, status.HTTP_201_CREATED)


@router.get(
    "/{task_id}",
    response_model=TaskPublic,
    responses=NOT_FOUND | ONE_TASK | NOT_MODIFIED,
    summary="Get a task",
)
async def get_task(
    user_id: UserId, task_id: TaskId, db: DatabaseDep, if_none_match: IfNoneMatch = None
) -> Response:
    task = await db.run(store.get_task, user_id, task_id)
    if none_match(if_none_match, task_etag(task.version)):
        return not_modified(task_etag(task.version))
    return _answer(task)


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    responses=NOT_FOUND | WITH_BODY | CONDITIONAL | ONE_TASK,
    summary="Update a task",
    description="`title` is required; every other field keeps its value if left out.",
)
async def update_task(
    request: Request,
    user_id: UserId,
    task_id: TaskId,
    body: TaskUpdate,
    db: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    versions, limit = versions_to_match(if_match), _task_limit(request)
    return _answer(await db.run(store.change_task, user_id, task_id, body, versions, limit=limit))


@router.patch(
    "/{task_id}",
    response_model=TaskPublic,
    responses=NOT_FOUND | WITH_BODY | CONDITIONAL | ONE_TASK,
    summary="Change some fields of a task",
    description="A JSON Merge Patch (RFC 7396), as `application/json` or "
    "`application/merge-patch+json`: fields present change, fields absent stay, `null` clears "
    "`description`, `due_date`, `due_time`, `timezone` and `recurrence`; a `null` `title`, "
    "`completed`, `priority`, `tags` or `reminders` is a 422. An empty object changes nothing.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/merge-patch+json": {
                    "schema": {"$ref": "#/components/schemas/TaskPatch"}
                }
            }
        }
    },
)
async def patch_task(
    request: Request,
    user_id: UserId,
    task_id: TaskId,
    body: TaskPatch,
    db: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    versions, limit = versions_to_match(if_match), _task_limit(request)
    return _answer(await db.run(store.change_task, user_id, task_id, body, versions, limit=limit))


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND | CONDITIONAL,
    summary="Delete a task for good",
)
async def delete_task(
    user_id: UserId, task_id: TaskId, db: DatabaseDep, if_match: IfMatch = None
) -> Response:
    await db.run(store.delete_task, user_id, task_id, versions_to_match(if_match))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{task_id}/complete",
    response_model=TaskPublic,
    responses=NOT_FOUND | CONDITIONAL | ONE_TASK,
    summary="Flip a task's `completed`",
)
async def toggle_task(
    request: Request,
    user_id: UserId,
    task_id: TaskId,
    db: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    versions = versions_to_match(if_match)
    limit = _task_limit(request)
    return _answer(await db.run(store.toggle_task, user_id, task_id, versions, limit=limit))


def _task_limit(request: Request) -> int:
    """How many tasks a user may hold: completing a recurring task creates one."""
    settings: Settings = request.app.state.settings
    return settings.max_tasks_per_user


def _answer(task: store.StoredTask, status_code: int = status.HTTP_200_OK) -> Response:
    return JSONText(task.json, status_code, headers={"ETag": task_etag(task.version)})
