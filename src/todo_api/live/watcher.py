"""One per instance: which users with an open stream here have new changes, asked of the database
about once a second in one query whatever the number of streams, and those users' streams woken.

A change made through any instance reaches the streams of every instance this way: the
instances share nothing but the database. A stream, once woken, reads its changes by its own
cursor (`sync.read_changes`), so a wake-up too many costs one query and one too few cannot
happen: the watcher's position only moves after the query that covers it.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

from todo_api import sync
from todo_api.database import Database
from todo_api.errors import StreamsFull, TooManyStreams

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class Watcher:
    def __init__(self, database: Database, *, per_user: int, in_all: int) -> None:
        self._database = database
        self._per_user = per_user
        self._in_all = in_all
        self._streams: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._count = 0

    @contextmanager
    def registered(self, user_id: str) -> Iterator[asyncio.Event]:
        """A stream of this user's, for as long as the block runs: the event the watcher sets
        when the user's tasks change. 429 beyond the user's limit, 503 beyond the instance's."""
        if len(self._streams[user_id]) >= self._per_user:
            raise TooManyStreams
        if self._count >= self._in_all:
            raise StreamsFull
        wake = asyncio.Event()
        self._streams[user_id].add(wake)
        self._count += 1
        try:
            yield wake
        finally:
            self._count -= 1
            self._streams[user_id].discard(wake)
            if not self._streams[user_id]:
                del self._streams[user_id]

    @property
    def open_streams(self) -> int:
        return self._count

    async def _watch(self) -> None:
        since: str | int | None = None  # None: not watching (no stream, or the database away)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            users = list(self._streams)
            if not users:
                since = None  # an idle instance asks nothing
                continue
            try:
                if since is None:
                    # From here on; the streams that came meanwhile look for themselves once.
                    since = await self._database.run(sync.position)
                    changed = set(users)
                else:
                    changed, since = await self._database.run(sync.users_with_changes, users, since)
            except Exception:  # the database away for a moment: the streams wait, then catch up
                logger.warning("could not ask the database for changes", exc_info=True)
                since = None
                continue
            for user_id in changed:
                for wake in self._streams.get(user_id, ()):
                    wake.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
