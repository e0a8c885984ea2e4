"""`GET /api/{user_id}/events`: the caller's changes as they happen, as Server-Sent Events
(`live/stream.py`), woken by this instance's watcher of the database (`live/watcher.py`).
Authentication and ownership are checked by OwnerRoute, as for every call."""

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Query, Request, status
from sse_starlette import EventSourceResponse
from starlette.responses import Response

from todo_api.auth.tokens import Principal
from todo_api.core.database import DatabaseDep
from todo_api.core.errors import InvalidCursor, StreamsFull, SyncCursorExpired, TooManyStreams
from todo_api.core.http import error_responses, owner_router
from todo_api.core.middleware import asked_for_head
from todo_api.core.settings import Settings
from todo_api.sync import changes
from todo_api.sync.stream import Stream
from todo_api.sync.watcher import Watcher
from todo_api.tasks.routes import UserId

router = owner_router("events", tag="sync")
HEARTBEAT_SECONDS = 15
# No proxy may hold events back to fill a buffer (nginx reads this one).
_HEADERS = {"X-Accel-Buffering": "no"}

_STREAM: dict[int | str, dict[str, Any]] = {
    status.HTTP_200_OK: {
        "description": '`changed` (data: the task), `deleted` (data: `{"id": …}`), each with '
        "`id:` a sync cursor; `reminder` (data: as in /reminders) at its time; a comment line "
        "every 15 seconds; `token-expired` last, when the token expires",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "",
    response_class=Response,
    responses=_STREAM
    | error_responses(InvalidCursor, SyncCursorExpired, TooManyStreams, StreamsFull),
    summary="The caller's changes as they happen (Server-Sent Events)",
    description="Without `Last-Event-ID` or `since`, from now on; with either (a sync cursor, "
    "as an event's id or `/changes` gave it), what was missed first, in order, nothing twice.",
)
async def stream_events(
    request: Request,
    user_id: UserId,
    db: DatabaseDep,
    since: Annotated[
        str | None, Query(min_length=1, max_length=4000, description="A sync cursor to resume from")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            min_length=1,
            max_length=4000,
            description="The id of the last event received (EventSource sends it itself)",
        ),
    ] = None,
) -> Response:
    settings: Settings = request.app.state.settings
    watcher: Watcher = request.app.state.watcher
    principal: Principal = request.state.principal
    retention = timedelta(days=settings.sync_retention_days)
    resume, parameter = (last_event_id, "Last-Event-ID") if last_event_id else (since, "since")
    now = datetime.now(UTC)
    start = await db.run(changes.start_cursor, user_id, resume, parameter, retention, now)
    registration = ExitStack()
    wake = registration.enter_context(watcher.registered(user_id))
    if asked_for_head(request.scope):
        # A GET's status and headers, without the stream: it would never end.
        registration.close()
        head = Response(media_type="text/event-stream", headers=_HEADERS)
        del head.headers["content-length"]  # a stream has no length
        return head
    stream = Stream(db, user_id, wake, principal.expires_at, retention)
    return EventSourceResponse(
        stream.events(start, registration),
        ping=HEARTBEAT_SECONDS,
        headers=_HEADERS,
    )
