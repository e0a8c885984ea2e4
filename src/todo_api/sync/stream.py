"""One live stream: the events of one user's changes, as Server-Sent Events.

What was missed (after `Last-Event-ID` or `since`) comes first, then each change as the watcher
wakes the stream: `changed` (the task), `deleted` (its id), each with `id:` the sync cursor
right after it, so that a client that reconnects with its last id gets the rest, nothing twice.
`reminder` events come at their `remind_at` (the ones that fall while the stream is open, once
each; they carry no id, so a client's last id stays a sync cursor). The stream ends when the
token expires, with a last `token-expired` event: the client reconnects with a fresh token and
its last event id.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sse_starlette import ServerSentEvent

from todo_api.core.database import Database
from todo_api.reminders import store as reminders
from todo_api.sync import changes

PAGE = 500


@dataclass(frozen=True, slots=True)
class Stream:
    database: Database
    user_id: str
    wake: asyncio.Event
    expires_at: float
    retention: timedelta

    async def events(self, cursor: str, registration: ExitStack) -> AsyncIterator[ServerSentEvent]:
        """The events from `cursor` on, until the token expires or the client goes; then the
        stream's registration is closed."""
        reminded_until = datetime.now(UTC)
        try:
            while True:
                more = True
                while more:
                    page = await self.database.run(
                        changes.read_changes,
                        self.user_id,
                        cursor,
                        PAGE,
                        self.retention,
                        datetime.now(UTC),
                    )
                    for change in page.changes:
                        yield _event(change)
                    cursor, more = page.cursor, page.has_more
                now = datetime.now(UTC)
                due = await self.database.run(
                    reminders.reminders_due, self.user_id, reminded_until, now
                )
                for reminder in due:
                    yield ServerSentEvent(orjson.dumps(reminder).decode(), event="reminder")
                reminded_until = now
                if time.time() >= self.expires_at:
                    yield ServerSentEvent("{}", event="token-expired")
                    return
                await self._wait(now)
        finally:
            registration.close()

    async def _wait(self, now: datetime) -> None:
        """Until the watcher wakes the stream, the next reminder falls, or the token expires."""
        until = self.expires_at
        upcoming = await self.database.run(reminders.next_reminder, self.user_id, now)
        if upcoming is not None:
            until = min(until, upcoming.timestamp())
        with suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, until - time.time()))
        self.wake.clear()


def _event(change: changes.Change) -> ServerSentEvent:
    if change.task is None:
        data = orjson.dumps({"id": change.task_id}).decode()
        return ServerSentEvent(data, event="deleted", id=change.cursor)
    return ServerSentEvent(change.task, event="changed", id=change.cursor)
