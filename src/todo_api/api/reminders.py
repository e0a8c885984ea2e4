"""`GET /api/{user_id}/reminders`: the reminders of the caller's pending tasks in a window of
time. Authentication and ownership are checked by OwnerRoute, as for tasks."""

from starlette.responses import Response

from todo_api import reminders
from todo_api.api.listing import ReminderParamsDep
from todo_api.api.rendering import JSONText, owner_router
from todo_api.api.tasks import UserId
from todo_api.database import DatabaseDep

router = owner_router("reminders")


@router.get(
    "",
    response_model=list[reminders.ReminderPublic],
    summary="List the reminders due in a window of time",
    description="For the caller's pending tasks: each reminder with `from <= remind_at < to`, "
    "by `remind_at` then `task_id`. What a client needs to schedule its notifications.",
)
async def list_reminders(user_id: UserId, db: DatabaseDep, params: ReminderParamsDep) -> Response:
    start, end = params.window
    return JSONText(await db.run(reminders.reminders_between, user_id, start, end))
