"""The task endpoints. Authentication and ownership are checked by OwnerRoute before anything
else; each handler validates its input, runs one statement from `store` (a create: a few, in
one transaction), and answers with the JSON the database built."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, status
from pydantic import BeforeValidator
from sqlalchemy import Connection
from starlette.responses import Response

from todo_api import idempotency, store
from todo_api.api.rendering import JSONText, error_responses
from todo_api.auth.guard import OwnerRoute, bearer_scheme
from todo_api.database import DatabaseDep
from todo_api.errors import (
    ApiError,
    AuthKeysUnavailable,
    DatabaseTimeout,
    DatabaseUnavailable,
    Forbidden,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidToken,
    MissingToken,
    PayloadTooLarge,
    TaskLimitReached,
    TaskNotFound,
    UnsupportedMediaType,
    ValidationFailed,
)
from todo_api.models import IDEMPOTENCY_KEY_MAX, USER_ID_MAX
from todo_api.schemas import (
    TaskCreate,
    TaskPublic,
    TaskUpdate,
    canonical_integer,
    not_null_in_schema,
)
from todo_api.settings import Settings

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    route_class=OwnerRoute,
    dependencies=[Depends(bearer_scheme)],
    responses=error_responses(
        MissingToken,
        InvalidToken,
        Forbidden,
        ValidationFailed,
        ApiError,
        DatabaseUnavailable,
        DatabaseTimeout,
        AuthKeysUnavailable,
    ),
)

# OwnerRoute has checked that this is the token's user before the handler runs.
UserId = Annotated[
    str, Path(max_length=USER_ID_MAX, description="The signed-in user's id: the token's `sub`")
]
TaskId = Annotated[
    int,
    BeforeValidator(canonical_integer),
    Path(ge=-(2**63), le=2**63 - 1, description="The task's id, as a plain decimal"),
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


@router.get("", response_model=list[TaskPublic], summary="List the caller's tasks")
async def list_tasks(user_id: UserId, db: DatabaseDep) -> Response:
    return JSONText(await db.run(store.list_tasks, user_id))


@router.post(
    "",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(
        PayloadTooLarge,
        UnsupportedMediaType,
        TaskLimitReached,
        IdempotencyKeyInProgress,
        IdempotencyKeyReused,
    )
    | {
        status.HTTP_201_CREATED: {
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer to an earlier "
                    "request with the same Idempotency-Key; absent otherwise",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        }
    },
    summary="Create a task",
)
async def create_task(
    request: Request,
    user_id: UserId,
    body: TaskCreate,
    db: DatabaseDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    settings: Settings = request.app.state.settings
    if idempotency_key is None:
        # One statement, atomic by itself: no transaction, one round trip instead of three.
        return await db.run(_create, user_id, body, None, settings)
    return await db.run_atomic(_create, user_id, body, idempotency_key, settings)


def _create(
    connection: Connection, owner: str, body: TaskCreate, key: str | None, settings: Settings
) -> Response:
    """With a key, run in a transaction: the key's claim, the insert and the stored answer commit
    together, or not at all, so a refused create (409) leaves the key unused."""
    if key is not None:
        ttl = timedelta(seconds=settings.idempotency_key_ttl_seconds)
        stored = idempotency.claim(connection, owner, key, idempotency.fingerprint(body), ttl)
        if stored is not None:
            return JSONText(
                stored.body, stored.status_code, headers={"Idempotent-Replayed": "true"}
            )
    task = store.create_task(connection, owner, body, limit=settings.max_tasks_per_user)
    if task is None:
        raise TaskLimitReached
    if key is not None:
        idempotency.remember(connection, owner, key, status.HTTP_201_CREATED, task)
    return JSONText(task, status.HTTP_201_CREATED)


@router.get("/{task_id}", response_model=TaskPublic, responses=NOT_FOUND, summary="Get a task")
async def get_task(user_id: UserId, task_id: TaskId, db: DatabaseDep) -> Response:
    return _found(await db.run(store.get_task, user_id, task_id))


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    responses=NOT_FOUND | WITH_BODY,
    summary="Update a task",
    description="`title` is required; `description` and `completed` keep their value if left out.",
)
async def update_task(
    user_id: UserId,
    task_id: TaskId,
    body: TaskUpdate,
    db: DatabaseDep,
) -> Response:
    return _found(await db.run(store.replace_task, user_id, task_id, body))


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
    summary="Delete a task for good",
)
async def delete_task(user_id: UserId, task_id: TaskId, db: DatabaseDep) -> Response:
    if not await db.run(store.delete_task, user_id, task_id):
        raise TaskNotFound
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{task_id}/complete",
    response_model=TaskPublic,
    responses=NOT_FOUND,
    summary="Flip a task's `completed`",
)
async def toggle_task(user_id: UserId, task_id: TaskId, db: DatabaseDep) -> Response:
    return _found(await db.run(store.toggle_task, user_id, task_id))


def _found(task: store.TaskJSON | None) -> Response:
    if task is None:
        raise TaskNotFound
    return JSONText(task)
