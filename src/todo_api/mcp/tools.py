"""The five tools: what each takes, which store function it runs, and what it answers.

Each tool's arguments are its own few parameters (`task_id`, `user_id`) plus the fields of the
API model the REST endpoint takes (`TaskCreate` for a create, `TaskPatch` for a patch,
`ListParams` for a list), validated by that same model: one copy of every rule. The store
functions are the REST endpoints' own, on the token's user only, so a tool can neither see nor
change another user's task whatever its arguments: `user_id` may be given, but only as the
token's user.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi.exceptions import RequestValidationError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from todo_api.core.database import Database
from todo_api.core.errors import Forbidden, TaskLimitReached
from todo_api.core.models import USER_ID_MAX
from todo_api.core.settings import Settings
from todo_api.mcp.schemas import USER_ID, input_schema, list_parameters, listed, model_schema
from todo_api.tasks import store
from todo_api.tasks.listing import ListParams
from todo_api.tasks.schemas import TaskCreate, TaskPatch, TaskPublic

MAX_TASK_ID = 2**63 - 1


class AsUser(BaseModel):
    """The parameter every tool takes."""

    model_config = ConfigDict(strict=True, extra="forbid")

    user_id: Annotated[str | None, Field(max_length=USER_ID_MAX)] = Field(
        default=None,
        description="Optional: the signed-in user's id. Tools act only as the user the token "
        "belongs to; any other id is refused (FORBIDDEN). Leave it out.",
    )


class OneTask(AsUser):
    task_id: Annotated[StrictInt, Field(ge=1, le=MAX_TASK_ID)] = Field(
        description="The task's id, as add_task or list_tasks gave it"
    )


class NoFields(BaseModel):
    """For a tool that takes nothing but its own parameters."""

    model_config = ConfigDict(extra="forbid")


class TaskList(BaseModel):
    """A list_tasks result."""

    tasks: list[TaskPublic]
    next_cursor: str | None = Field(
        description="With `limit`, when more tasks match: pass it as `cursor`, with the same "
        "filters and sort, for the next page; null on the last page"
    )


class DeletedTask(BaseModel):
    """A delete_task result."""

    task_id: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls (the token's user) and with what: the app's database and settings."""

    user_id: str
    database: Database
    settings: Settings


@dataclass(frozen=True, slots=True)
class Answer:
    data: dict[str, Any]
    summary: str


OwnT = TypeVar("OwnT", bound=AsUser)
FieldsT = TypeVar("FieldsT", bound=BaseModel)


@dataclass(frozen=True)
class TaskTool(Generic[OwnT, FieldsT]):
    name: str
    title: str
    description: str
    own: type[OwnT]
    fields: type[FieldsT]
    output: type[BaseModel]
    annotations: ToolAnnotations
    run: Callable[[Caller, OwnT, FieldsT], Awaitable[Answer]]
    # Descriptions of the API model's fields that speak of HTTP, said for this tool.
    wording: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A field of the API model named like a tool parameter would be lost between the two.
        clash = self.own.model_fields.keys() & self.fields.model_fields.keys()
        if clash:
            raise TypeError(f"{self.name}: {sorted(clash)} is both a tool parameter and a field")

    @property
    def input_schema(self) -> dict[str, Any]:
        return input_schema(self.own, self.fields, wording=self.wording)

    @property
    def output_schema(self) -> dict[str, Any]:
        return model_schema(self.output)

    @cached_property
    def lists(self) -> frozenset[str]:
        """The parameters that take a list, or one item of it."""
        return list_parameters(self.input_schema)

    async def call(self, caller: Caller, arguments: Mapping[str, Any]) -> Answer:
        own, fields = self.parse(caller, arguments)
        return await self.run(caller, own, fields)

    def parse(self, caller: Caller, arguments: Mapping[str, Any]) -> tuple[OwnT, FieldsT]:
        """The arguments as the tool's parameters and the API model; FORBIDDEN for another
        user's id before anything else (as a REST path's user is checked before its body), then
        every invalid or unknown argument at once, in the API's VALIDATION_ERROR."""
        given = arguments.get(USER_ID)
        if given is not None and given != caller.user_id:
            raise Forbidden("This token does not belong to this user_id; leave user_id out")
        arguments = listed(arguments, self.lists)
        own_names, field_names = self.own.model_fields.keys(), self.fields.model_fields.keys()
        errors: list[Any] = []
        own = fields = None
        try:
            own = self.own.model_validate(_only(arguments, own_names))
        except ValidationError as exc:
            errors += exc.errors(include_url=False)
        try:
            # Only the fields given, so that a patch leaves the others unchanged.
            fields = self.fields.model_validate(_only(arguments, field_names))
        except ValidationError as exc:
            errors += exc.errors(include_url=False)
        unknown = {
            name: value
            for name, value in arguments.items()
            if name not in own_names and name not in field_names
        }
        try:
            NoFields.model_validate(unknown)
        except ValidationError as exc:
            errors += exc.errors(include_url=False)
        if errors or own is None or fields is None:
            # Located like a REST body's fields, so the API's one renderer names each argument.
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])
        return own, fields


def _only(arguments: Mapping[str, Any], names: Collection[str]) -> dict[str, Any]:
    return {name: value for name, value in arguments.items() if name in names}


def _task(json: str) -> dict[str, Any]:
    task: dict[str, Any] = orjson.loads(json)
    return task


def _named(verb: str, task: Mapping[str, Any]) -> str:
    return f"{verb} task {task['id']}: {task['title']!r}"


async def _add_task(caller: Caller, _: AsUser, new: TaskCreate) -> Answer:
    limit = caller.settings.max_tasks_per_user
    created = await caller.database.run(store.create_task, caller.user_id, new, limit=limit)
    if created is None:
        raise TaskLimitReached
    task = _task(created.json)
    return Answer(task, _named("Added", task))


async def _list_tasks(caller: Caller, _: AsUser, params: ListParams) -> Answer:
    found = await caller.database.run(store.list_page, caller.user_id, params)
    tasks = orjson.loads(found.body)
    summary = f"{len(tasks)} task{'' if len(tasks) == 1 else 's'}"
    if found.next_cursor is not None:
        summary += "; more match: call again with cursor=next_cursor"
    return Answer({"tasks": tasks, "next_cursor": found.next_cursor}, summary)


# The same change as `PATCH {"completed": true}`: completing sets, it never flips back.
_COMPLETED = TaskPatch.model_validate({"completed": True})


async def _complete_task(caller: Caller, one: OneTask, _: NoFields) -> Answer:
    # Completing a recurring task creates its next occurrence: one more task, within the limit.
    limit = caller.settings.max_tasks_per_user
    changed = await caller.database.run(
        store.change_task, caller.user_id, one.task_id, _COMPLETED, limit=limit
    )
    task = _task(changed.json)
    return Answer(task, _named("Completed", task))


async def _delete_task(caller: Caller, one: OneTask, _: NoFields) -> Answer:
    await caller.database.run(store.delete_task, caller.user_id, one.task_id)
    return Answer({"task_id": one.task_id, "deleted": True}, f"Deleted task {one.task_id}")


async def _update_task(caller: Caller, one: OneTask, changes: TaskPatch) -> Answer:
    limit = caller.settings.max_tasks_per_user
    changed = await caller.database.run(
        store.change_task, caller.user_id, one.task_id, changes, limit=limit
    )
    task = _task(changed.json)
    return Answer(task, _named("Updated", task))


TOOLS: tuple[TaskTool[Any, Any], ...] = (
    TaskTool(
        name="add_task",
        title="Add a task",
        description="Create a task for the signed-in user. Only `title` is required; "
        "`description`, `priority`, `tags`, a due date (with an optional time and time zone) "
        "and the other fields are optional. Returns the new task.",
        own=AsUser,
        fields=TaskCreate,
        output=TaskPublic,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        ),
        run=_add_task,
    ),
    TaskTool(
        name="list_tasks",
        title="List tasks",
        description="List the signed-in user's tasks. Without arguments: every task, by id. "
        "Filters combine with AND: `status` (all, pending, completed), `q` (text in the title "
        "or description), `tag`, `priority`, `due_after`/`due_before`, `has_due`; `sort` orders "
        "them; `limit` answers one page, and `next_cursor` leads to the next.",
        own=AsUser,
        fields=ListParams,
        output=TaskList,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        run=_list_tasks,
        wording={
            "tag": "Tasks that carry every tag given, case-insensitively",
            "limit": "Answer at most this many tasks; when more match, the result's "
            "`next_cursor` continues",
            "cursor": "Continue a list: the `next_cursor` of the previous result, with the same "
            "filters and sort",
        },
    ),
    TaskTool(
        name="complete_task",
        title="Complete a task",
        description="Mark a task as completed. A completed task stays completed (this never "
        "reopens one: use update_task with `completed: false` for that). Returns the task.",
        own=OneTask,
        fields=NoFields,
        output=TaskPublic,
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
        run=_complete_task,
    ),
    TaskTool(
        name="delete_task",
        title="Delete a task",
        description="Delete a task for good.",
        own=OneTask,
        fields=NoFields,
        output=DeletedTask,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
        run=_delete_task,
    ),
    TaskTool(
        name="update_task",
        title="Update a task",
        description="Change some fields of a task: each field given changes, each field left "
        "out stays as it is, and null clears a field that may be empty (such as "
        "`description` or `due_date`). Returns the task.",
        own=OneTask,
        fields=TaskPatch,
        output=TaskPublic,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
        run=_update_task,
    ),
)
