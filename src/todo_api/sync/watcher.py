"""One per instance: wakes the event streams open here when their user's tasks change.

A stream, once woken, reads its changes by its own cursor (`changes.read_changes`), so a wake-up
too many costs one query, and the watcher only has to make sure none is too few. Three ways,
from the fastest:

- A write served by this instance wakes this instance's streams of that user at once
  (`changed`, called for every successful write request).
- With DATABASE_DIRECT_URL, the instance also announces each such user with `NOTIFY` (sent
  through the usual pool: a transaction pooler carries NOTIFY, not LISTEN), and LISTENs on a
  connection of its own to the direct URL, waking its streams of the users other instances
  announce.
- Whatever else happens (no direct URL, a NOTIFY lost with an instance that died between its
  commit and its announcement, the listening connection down): it asks the database which users
  with a stream open here have changes since it last asked, in one query whatever the number of
  streams, once a second (every 10 s while it listens). The instances share nothing but the
  database.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

import psycopg
from sqlalchemy import ARRAY, Connection, Text, bindparam, func, literal, select

from todo_api.core.database import Database, PostgresConnector
from todo_api.core.errors import StreamsFull, TooManyStreams
from todo_api.core.settings import DatabaseURL, Settings
from todo_api.sync import changes

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0
POLL_SECONDS_WHILE_LISTENING = 10.0
CHANNEL = "todo_api_changes"
_ANNOUNCE_EVERY_SECONDS = 0.05
_RELISTEN_SECONDS = 2.0
_USERS = (
    func.unnest(bindparam("users", type_=ARRAY(Text()))).table_valued("user_id").render_derived()
)
_ANNOUNCE = select(func.pg_notify(literal(CHANNEL), _USERS.c.user_id)).select_from(_USERS)


def _announce(connection: Connection, users: list[str]) -> None:
    connection.execute(_ANNOUNCE, {"users": users})


class Watcher:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._per_user = settings.max_streams_per_user
        self._in_all = settings.max_streams
        self._direct: DatabaseURL | None = settings.direct_database
        self._settings = settings
        self._streams: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._count = 0
        self._listening = False
        self._to_announce: set[str] = set()
        self._announced = asyncio.Event()

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

    def changed(self, user_id: str) -> None:
        """A write of this user's succeeded here: wake the user's streams here, and tell the
        other instances when they listen."""
        self._wake(user_id)
        if self._direct is not None:
            self._to_announce.add(user_id)
            self._announced.set()

    def _wake(self, user_id: str) -> None:
        for wake in self._streams.get(user_id, ()):
            wake.set()

    async def _poll(self) -> None:
        since: str | int | None = None  # None: not watching (no stream, or the database away)
        while True:
            await asyncio.sleep(POLL_SECONDS_WHILE_LISTENING if self._listening else POLL_SECONDS)
            users = list(self._streams)
            if not users:
                since = None  # an idle instance asks nothing
                continue
            try:
                if since is None:
                    # From here on; the streams that came meanwhile look for themselves once.
                    since = await self._database.run(changes.position)
                    changed = set(users)
                else:
                    changed, since = await self._database.run(
                        changes.users_with_changes, users, since
                    )
            except Exception:  # the database away for a moment: the streams wait, then catch up
                logger.warning("could not ask the database for changes", exc_info=True)
                since = None
                continue
            for user_id in changed:
                self._wake(user_id)

    async def _announce_forever(self) -> None:
        while True:
            await self._announced.wait()
            await asyncio.sleep(_ANNOUNCE_EVERY_SECONDS)  # one NOTIFY per user per batch
            self._announced.clear()
            users, self._to_announce = sorted(self._to_announce), set()
            try:
                await self._database.run(_announce, users)
            except Exception:  # the other instances' polls will see these changes
                logger.warning("could not announce changes", exc_info=True)

    async def _listen_forever(self, direct: DatabaseURL) -> None:
        connector = PostgresConnector(direct.async_url, self._settings)
        while True:
            try:
                connection = await connector.connect()
                try:
                    await connection.set_autocommit(True)
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    # Whatever was announced before this LISTEN: the streams look once.
                    for user_id in list(self._streams):
                        self._wake(user_id)
                    async for notice in connection.notifies():
                        self._wake(notice.payload)
                finally:
                    self._listening = False
                    await connection.close()
            except (psycopg.Error, OSError):
                logger.warning("listening for changes failed; polling until it is back")
            await asyncio.sleep(_RELISTEN_SECONDS)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._poll())]
        if self._direct is not None:
            tasks.append(asyncio.create_task(self._announce_forever()))
            tasks.append(asyncio.create_task(self._listen_forever(self._direct)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
