"""`POST /api/{user_id}/tasks/quick`: a task from one line of text, read by `reading` and created
as `POST …/tasks` creates one (the same rules, limits and Idempotency-Key). Authentication and
ownership are checked by OwnerRoute, as for every call."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, Field, StringConstraints, ValidationError
from starlette.responses import Response

from todo_api.core.bodies import RequestBody, storable
from todo_api.core.database import DatabaseDep
from todo_api.core.http import owner_router
from todo_api.quickadd.reading import read
from todo_api.tasks.routes import (
    CREATE_ERRORS,
    CREATED_HEADERS,
    IdempotencyKeyHeader,
    UserId,
    create,
)
from todo_api.tasks.schemas import TITLE_PATTERN, TaskCreate, TaskPublic, TimeZone

router = owner_router("tasks")

# Room for a title of 200 characters and what is read besides it.
QUICK_TEXT_MAX = 500
PARSED_HEADER = "X-Quick-Add-Parsed"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return storable(text)


class QuickAdd(RequestBody):
    text: Annotated[
        str,
        StringConstraints(min_length=1, max_length=QUICK_TEXT_MAX),
        AfterValidator(_not_blank),
        Field(
            description="One line, as Todoist's quick add reads it: `#List`, `@tag`, `p1`-`p3`, "
            "a date and time in words, `every …`; text in double quotes is kept as written "
            "(`Call mom tomorrow at 5pm @phone p1`, `Pay rent every month on the 1st`)",
            # Not blank, no NUL: what the validators check, as the title's pattern says it.
            json_schema_extra={"pattern": TITLE_PATTERN},
        ),
    ]
    timezone: TimeZone = None


@router.post(
    "/quick",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_ERRORS
    | {
        status.HTTP_201_CREATED: {
            "headers": {
                **CREATED_HEADERS,
                PARSED_HEADER: {
                    "description": "What was read, in this order: `list:`, `tag:` (each), "
                    "`priority:`, `due:YYYY-MM-DD[THH:MM]` (local time), `recurrence:`; "
                    "joined by `, `, each value percent-encoded. Empty when nothing was read; "
                    "absent on a replayed answer",
                    "schema": {"type": "string"},
                },
            }
        }
    },
    summary="Create a task from one line of text",
    description="What was read is taken out of the title; dates and times are in `timezone` "
    "(default UTC). A `#Name` that names none of the caller's lists stays in the title.",
)
async def quick_add_task(
    request: Request,
    user_id: UserId,
    body: QuickAdd,
    db: DatabaseDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    # The user holds no lists before lists exist (SPEC v3 "Lists"): every `#Name` is title.
    reading = read(body.text, zone=body.timezone or "UTC", now=datetime.now(UTC), list_names={})
    try:
        task = TaskCreate.model_validate(
            {
                "title": reading.title,
                "tags": reading.tags,
                "priority": reading.priority or "none",
                "due_date": reading.due_date,
                "due_time": reading.due_time,
                "timezone": reading.timezone,
                "recurrence": reading.recurrence,
            }
        )
    except ValidationError as exc:
        # What the text made breaks a task's rule (a title over 200 characters): the client
        # sent `text`, so the error names it, and the task's field in its words.
        raise RequestValidationError(
            [
                error | {"loc": ("body", "text"), "msg": f"{error['loc'][0]}: {error['msg']}"}
                for error in exc.errors(include_url=False)
            ]
        ) from None
    answer = await create(request, db, user_id, task, idempotency_key, body)
    if "Idempotent-Replayed" not in answer.headers:
        answer.headers[PARSED_HEADER] = reading.header
    return answer
