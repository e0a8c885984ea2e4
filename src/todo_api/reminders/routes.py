"""`GET /api/{user_id}/reminders`: the reminders of the caller's pending tasks in a window of
time. Authentication and ownership are checked by OwnerRoute, as for tasks."""

from starlette.responses import Response

from todo_api.core.database import DatabaseDep
from todo_api.core.http import JSONText, owner_router
from todo_api.reminders import store
from todo_api.tasks.query import ReminderParamsDep
from todo_api.tasks.routes import UserId

router = owner_router("reminders")


@router.get(
    "",
    response_model=list[store.ReminderPublic],
    summary="List the reminders due in a window of time",
    description="For the caller's pending tasks: each reminder with `from <= remind_at < to`, "
    "by `remind_at` then `task_id`. What a client needs to schedule its notifications.",
)
async def list_reminders(user_id: UserId, db: DatabaseDep, params: ReminderParamsDep) -> Response:
    start, end = params.window
    return JSONText(await db.run(store.reminders_between, user_id, start, end))
