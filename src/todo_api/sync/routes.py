"""`GET /api/{user_id}/changes`: what changed in the caller's tasks since a cursor (`changes.py`
says why nothing is missed). Authentication and ownership are checked by OwnerRoute."""

from datetime import UTC, datetime, timedelta

from fastapi import Request
from starlette.responses import Response

from todo_api.core.database import DatabaseDep
from todo_api.core.errors import InvalidCursor, SyncCursorExpired
from todo_api.core.http import JSONText, error_responses, owner_router
from todo_api.core.settings import Settings
from todo_api.sync import changes
from todo_api.tasks.query import ChangesParamsDep
from todo_api.tasks.routes import UserId

router = owner_router("changes", tag="sync")


@router.get(
    "",
    response_model=changes.ChangesPublic,
    responses=error_responses(InvalidCursor, SyncCursorExpired),
    summary="What changed since a cursor",
    description="Without `since`, every task (a full sync). With the `cursor` of the previous "
    "answer as `since`, the tasks created or changed since (as they are now) and the ids of "
    "those deleted. Apply each answer in order and keep its cursor; `has_more`: ask again now.",
)
async def list_changes(
    request: Request, user_id: UserId, db: DatabaseDep, params: ChangesParamsDep
) -> Response:
    settings: Settings = request.app.state.settings
    retention = timedelta(days=settings.sync_retention_days)
    now = datetime.now(UTC)
    return JSONText(await db.run(changes.changes, user_id, params, retention, now))
