"""The calendar feed: the caller's tasks as iCalendar (`tasks.ics`, with a token), the secret
address that serves the same feed to calendar apps without one, and its rotation and
revocation. The secret never reaches a log: the request log line names the route template,
`/calendar/{secret}.ics`, never the path."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from starlette.responses import Response

from todo_api.calendar import feed, feed_secrets
from todo_api.core.database import DatabaseDep
from todo_api.core.errors import CalendarFeedNotFound, ValidationFailed
from todo_api.core.http import JSONText, error_responses, owner_router
from todo_api.tasks.routes import UserId

tasks_ics = owner_router("tasks.ics", tag="calendar")
feed_address = owner_router("calendar-feed", tag="calendar")
public = APIRouter(tags=["calendar"])

_ICS: dict[int | str, dict[str, Any]] = {
    status.HTTP_200_OK: {
        "description": "An RFC 5545 VCALENDAR with one VTODO per task",
        "content": {"text/calendar": {"schema": {"type": "string"}}},
    }
}


class CalendarAnswer(Response):
    # Declared as a plain Response on the routes: FastAPI would document their JSON errors
    # under this media type.
    media_type = feed.MEDIA_TYPE


class FeedAddress(BaseModel):
    url: str = Field(
        description="The secret address of the feed, relative to this API: `/calendar/<secret>.ics`"
    )


@tasks_ics.get(
    "",
    response_class=Response,
    responses=_ICS,
    summary="The caller's tasks as an iCalendar feed",
)
async def get_tasks_calendar(user_id: UserId, db: DatabaseDep) -> Response:
    return await _calendar_of(await db.run(feed.tasks_of, user_id))


@feed_address.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedAddress,
    summary="Make (or replace) the secret address of the caller's calendar feed",
    description="For calendar apps, which cannot send a token. Posting again replaces the "
    "secret: the old address stops working at once.",
)
async def create_calendar_feed(user_id: UserId, db: DatabaseDep) -> Response:
    secret = await db.run(feed_secrets.new_secret, user_id)
    body = orjson.dumps({"url": feed_secrets.feed_path(secret)})
    return JSONText(body, status.HTTP_201_CREATED)


@feed_address.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke the secret address of the caller's calendar feed",
)
async def delete_calendar_feed(user_id: UserId, db: DatabaseDep) -> Response:
    await db.run(feed_secrets.revoke, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public.get(
    "/calendar/{secret}.ics",
    response_class=Response,
    responses=_ICS | error_responses(CalendarFeedNotFound, ValidationFailed),
    summary="A calendar feed, by its secret address (no token)",
)
async def get_calendar_feed(
    secret: Annotated[str, Path(description="The secret the feed was made with")],
    db: DatabaseDep,
) -> Response:
    return await _calendar_of(await db.run(_tasks_behind, secret))


def _tasks_behind(connection: Connection, secret: str) -> Sequence[Any]:
    owner = feed_secrets.owner_of(connection, secret)
    if owner is None:
        raise CalendarFeedNotFound
    return feed.tasks_of(connection, owner)


async def _calendar_of(tasks: Sequence[Any]) -> Response:
    # Seconds of CPU for thousands of tasks: off the event loop, which serves everyone else.
    body = await run_in_threadpool(feed.calendar, tasks, datetime.now(UTC))
    return CalendarAnswer(body)
