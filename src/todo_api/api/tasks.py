"""The task endpoints. Authentication and ownership are checked by OwnerRoute before anything
else; each handler validates its input, runs one statement from `store`, and answers."""

from typing import Annotated

from fastapi import APIRouter, Path, status
from starlette.responses import Response

from todo_api import store
from todo_api.api.rendering import JSONBytes, error_responses
from todo_api.auth.guard import CurrentUser, OwnerRoute
from todo_api.database import SessionDep
from todo_api.errors import TaskNotFound
from todo_api.models import USER_ID_MAX
from todo_api.schemas import TaskCreate, TaskPublic, TaskUpdate

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    route_class=OwnerRoute,
    responses=error_responses(401, 403, 422, 500, 503),
)

UserId = Annotated[
    str, Path(max_length=USER_ID_MAX, description="The signed-in user's id: the token's `sub`")
]
TaskId = Annotated[int, Path(ge=-(2**63), le=2**63 - 1, description="The task's id")]
NOT_FOUND = error_responses(404)
WITH_BODY = error_responses(413)


@router.get("", response_model=list[TaskPublic], summary="List the caller's tasks")
async def list_tasks(user_id: UserId, owner: CurrentUser, session: SessionDep) -> Response:
    return JSONBytes(await store.list_tasks(session, owner))


@router.post(
    "",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    responses=WITH_BODY,
    summary="Create a task",
)
async def create_task(
    user_id: UserId, body: TaskCreate, owner: CurrentUser, session: SessionDep
) -> Response:
    task = await store.create_task(session, owner, body)
    return JSONBytes(task, status_code=status.HTTP_201_CREATED)


@router.get("/{task_id}", response_model=TaskPublic, responses=NOT_FOUND, summary="Get a task")
async def get_task(
    user_id: UserId, task_id: TaskId, owner: CurrentUser, session: SessionDep
) -> Response:
    return _found(await store.get_task(session, owner, task_id))


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    responses=NOT_FOUND | WITH_BODY,
    summary="Update a task",
    description="`title` is required; `description` and `completed` keep their value if left out.",
)
async def update_task(
    user_id: UserId, task_id: TaskId, body: TaskUpdate, owner: CurrentUser, session: SessionDep
) -> Response:
    return _found(await store.replace_task(session, owner, task_id, body))


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
    summary="Delete a task for good",
)
async def delete_task(
    user_id: UserId, task_id: TaskId, owner: CurrentUser, session: SessionDep
) -> Response:
    if not await store.delete_task(session, owner, task_id):
        raise TaskNotFound
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{task_id}/complete",
    response_model=TaskPublic,
    responses=NOT_FOUND,
    summary="Flip a task's `completed`",
)
async def toggle_task(
    user_id: UserId, task_id: TaskId, owner: CurrentUser, session: SessionDep
) -> Response:
    return _found(await store.toggle_task(session, owner, task_id))


def _found(task: store.TaskRow | None) -> Response:
    if task is None:
        raise TaskNotFound
    return JSONBytes(task)
