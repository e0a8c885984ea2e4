"""The database engine, and the one dependency that lends each request its connection.

A request that runs one statement (every read, update, toggle and delete) runs it in autocommit:
one round trip, no BEGIN and COMMIT around it; the statement is atomic by itself. A request that
needs several statements to hold together (a create, with its idempotency key) uses
`Database.run_atomic`: they commit together before the response is sent, or not at all.

PostgreSQL connections are made for the way the service is deployed (Neon, often behind its
PgBouncer pooler in transaction mode), all without blocking the event loop:
- a new connection that fails because the server is not accepting yet (refused, starting up:
  Neon waking from zero) is retried with backoff for DB_CONNECT_RETRY_SECONDS;
- a statement running longer than DB_STATEMENT_TIMEOUT_SECONDS is cancelled on the server and
  answered 503 DATABASE_TIMEOUT. The timer is the client's, not a `SET statement_timeout`: a
  session setting would leak to other clients through PgBouncer in transaction mode, and PgBouncer
  before 1.20 refuses it as a startup parameter (`options`);
- server-side prepared statements are off unless DB_PREPARED_STATEMENTS is set;
- a pooled connection that the server closed meanwhile (a restart, Neon scaling to zero) is
  replaced before a request gets it, at the cost of one non-blocking poll of its socket.
"""

import asyncio
import logging
import select
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Concatenate, ParamSpec, Self, TypeVar

import psycopg
from fastapi import Depends, Request
from psycopg.errors import QueryCanceled
from sqlalchemy import Select, event
from sqlalchemy.engine import URL, Connection, Dialect
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    NoResultFound,
    OperationalError,
    StatementError,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_only, greenlet_spawn

from todo_api.core.errors import DatabaseTimeout, DatabaseUnavailable
from todo_api.core.metrics import DB_WAITING
from todo_api.core.settings import DatabaseURL, Settings

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Connection failures that waiting does not cure: retrying them would only delay the answer.
_PERMANENT_FAILURES = (
    "authentication failed",
    "does not exist",
    "does not support ssl",
    "channel binding",
    "no password supplied",
    "pg_hba.conf",
    "certificate",
    "permission denied",
)
_FIRST_RETRY_DELAY = 0.1
_MAX_RETRY_DELAY = 1.0


def create_engine(settings: Settings) -> AsyncEngine:
    database: DatabaseURL = settings.database
    if database.is_sqlite:
        engine = create_async_engine(
            database.async_url,
            hide_parameters=True,
            isolation_level="AUTOCOMMIT",
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            # Writers wait for SQLite's single write lock instead of failing at once.
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        database.async_url,
        hide_parameters=True,
        isolation_level="AUTOCOMMIT",
        # SQLAlchemy still calls rollback() when a connection goes back; in autocommit there is
        # nothing to roll back, and the call cost 3 % of a list request.
        skip_autocommit_rollback=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # Neon closes idle connections when compute scales to zero; recycle before that bites.
        pool_recycle=300,
        async_creator=PostgresConnector(database.async_url, settings).connect,
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed_by_server)
    return engine


class StatementTimeout(QueryCanceled):
    """Raised in place of the asyncio timeout, so that it reads like the server's own
    `statement_timeout` (SQLSTATE 57014): both become 503 DATABASE_TIMEOUT."""


def _cursor_class(timeout_seconds: float) -> type[psycopg.AsyncCursor[Any]]:
    class StatementTimeoutCursor(psycopg.AsyncCursor[Any]):
        async def execute(
            self,
            query: Any,
            params: Any = None,
            *,
            prepare: bool | None = None,
            binary: bool | None = None,
        ) -> Self:
            # On expiry psycopg cancels the statement on the server (through PgBouncer too) and
            # waits for it to end, so the connection goes back to the pool usable; if the
            # server does not answer within 5 s it closes the connection, which the pool drops.
            timer = asyncio.timeout(timeout_seconds)
            try:
                async with timer:
                    return await super().execute(query, params, prepare=prepare, binary=binary)
            except TimeoutError:
                if not timer.expired():
                    raise
                raise StatementTimeout(
                    f"statement cancelled after DB_STATEMENT_TIMEOUT_SECONDS={timeout_seconds:g}"
                ) from None

    return StatementTimeoutCursor


class PostgresConnector:
    """SQLAlchemy's `async_creator`: opens one psycopg connection, retrying while the server is
    not accepting connections yet. After a retry budget is spent without success, the next
    connections are tried once each until one succeeds: during a long outage requests get
    their 503 at once instead of each waiting out the budget."""

    def __init__(self, url: URL, settings: Settings) -> None:
        self._kwargs = _connect_kwargs(url)
        self._kwargs["connect_timeout"] = settings.db_connect_timeout_seconds
        if not settings.db_prepared_statements:
            self._kwargs["prepare_threshold"] = None
        if settings.db_statement_timeout_seconds > 0:
            self._kwargs["cursor_factory"] = _cursor_class(settings.db_statement_timeout_seconds)
        self._retry_seconds = settings.db_connect_retry_seconds
        self._failing = False

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        started = time.monotonic()
        deadline = started + (0.0 if self._failing else self._retry_seconds)
        delay = _FIRST_RETRY_DELAY
        attempt = 1
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(**self._kwargs)
            except psycopg.OperationalError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                retry = _worth_retrying(reason) and time.monotonic() + delay < deadline
                if not retry:
                    self._failing = True
                    logger.warning(
                        "database connection failed (attempt %d, %.1f s): %s",
                        attempt,
                        time.monotonic() - started,
                        reason,
                    )
                    raise
                if attempt == 1:
                    logger.info("database not accepting connections yet, retrying: %s", reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                attempt += 1
            else:
                if attempt > 1 or self._failing:
                    logger.info("database connection made after %d attempts", attempt)
                self._failing = False
                return connection


def _worth_retrying(reason: str) -> bool:
    reason = reason.lower()
    return not any(marker in reason for marker in _PERMANENT_FAILURES)


def _connect_kwargs(url: URL) -> dict[str, Any]:
    """libpq parameters from the URL: its query (`sslmode`, `channel_binding`, `options`, ...)
    passes through as written, so a URL copied from Neon's console works unchanged."""
    kwargs: dict[str, Any] = {
        key: value[-1] if isinstance(value, tuple) else value for key, value in url.query.items()
    }
    parts = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    kwargs.update({key: value for key, value in parts.items() if value is not None})
    return kwargs


def _replace_if_closed_by_server(
    _: Any, record: ConnectionPoolEntry, __: PoolProxiedConnection
) -> None:
    """An idle pooled connection has nothing to read; if its socket is readable or hung up, the
    server has closed it (restart, failover, Neon's scale to zero). Raising DisconnectionError
    makes the pool open a fresh connection for this checkout. One poll(2), no round trip:
    `pool_pre_ping` would add a `SELECT 1` to every request."""
    connection = record.driver_connection
    if connection is None:
        return
    if connection.closed or connection.broken:
        raise DisconnectionError("connection closed")
    try:
        poller = select.poll()
        poller.register(connection.pgconn.socket, select.POLLIN)
        closed = bool(poller.poll(0))
    except (OSError, psycopg.OperationalError):
        closed = True
    if closed:
        raise DisconnectionError("connection closed by the server while idle in the pool")


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """The one way a request reaches the database.

    `run(work, ...)` runs `work`, plain SQLAlchemy Core on a pooled `Connection`, in autocommit.
    `run_atomic(work, ...)` runs it in a transaction that commits when `work` returns (before the
    answer is sent, so a 2xx always means "stored") and rolls back when it raises.

    `work` is synchronous code: checkout, statements and return to the pool run in one greenlet,
    where `AsyncConnection` spends one per call (connect, execute, close). In the profile that
    was a fifth of a list request's time in the database layer.
    """

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._sync_engine = engine.sync_engine
        self._dialect = engine.dialect
        # Each statement `rows` has run, compiled for this engine's dialect.
        self._compiled: dict[Select[Any], _Compiled] = {}
        # One slot per connection the pool can lend. A request beyond them waits here, as one
        # small future, instead of inside the pool's checkout, where it would hold a suspended
        # greenlet and its saved C stack: 7 MB less RSS after 1,000 concurrent clients.
        self._free = asyncio.Semaphore(settings.db_pool_size + settings.db_max_overflow)
        self._wait_seconds = settings.db_pool_timeout_seconds
        self._waiting: AbstractContextManager[object] = (
            DB_WAITING.track_inprogress() if settings.metrics_enabled else nullcontext()
        )

    async def run(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._spawn(partial(self._autocommit, lambda c: work(c, *args, **kwargs)))

    async def run_atomic(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._spawn(partial(self._atomic, lambda c: work(c, *args, **kwargs)))

    @property
    def dialect(self) -> str:
        """The database's SQLAlchemy dialect name: `postgresql` or `sqlite`."""
        return str(self._dialect.name)

    async def scalar(self, statement: Select[Any], parameters: dict[str, Any]) -> Any:
        """The first value of a read that gives one row (the v1 list's JSON), see `rows`."""
        found = await self.rows(statement, parameters)
        if not found:
            raise NoResultFound("No row was found when one was required")
        return found[0][0]

    async def rows(self, statement: Select[Any], parameters: dict[str, Any]) -> Sequence[Any]:
        """The rows of one read, in autocommit. On PostgreSQL straight through the pooled psycopg
        connection, with the statement compiled once (a statement object that is reused, as
        `store` and `listing` build them) and SQLAlchemy's own processing of its parameters and
        result columns.

        Why: the list of 50 tasks and a page are each one read, and SQLAlchemy's execution layer
        around it (execution context, compiled-cache lookup, result objects) cost twice the CPU
        of psycopg's own execute: 0.35 ms against 0.17 ms for the list (docs/benchmarks.md,
        issue 21). The connection still comes from the one pool; errors are SQLAlchemy's, as
        `run` raises them, and a statement timeout is the same 503. A statement with parameters
        SQLAlchemy renders at execution (an expanding `IN`) goes through `run`."""
        if self._dialect.name != "postgresql":
            return await self.run(_all_rows, statement, parameters)
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = _Compiled.of(statement, self._dialect)
        if not compiled.direct:
            return await self.run(_all_rows, statement, parameters)
        values = compiled.parameters(parameters)
        found = await self._spawn(partial(self._raw_rows, compiled.sql, values))
        return compiled.processed(found)

    def _raw_rows(self, sql: str, parameters: Mapping[str, Any]) -> list[Any]:
        try:
            pooled = self._sync_engine.raw_connection()
        except psycopg.Error as exc:
            raise self._wrapped(exc, None, None) from exc
        try:
            return await_only(_fetch_all(pooled.driver_connection, sql, parameters))
        except psycopg.Error as exc:
            error: Any = exc
            invalidated = self._dialect.is_disconnect(error, pooled.dbapi_connection, None)
            if invalidated:
                pooled.invalidate(exc)
            raise self._wrapped(exc, sql, parameters, invalidated) from exc
        except BaseException as exc:
            # Cancelled mid-statement (as SQLAlchemy's Connection does): the connection may
            # still be busy with it, so it is not lent again.
            if not isinstance(exc, Exception):
                pooled.invalidate(exc)
            raise
        finally:
            pooled.close()

    def _wrapped(
        self,
        exc: psycopg.Error,
        sql: str | None,
        parameters: Mapping[str, Any] | None,
        invalidated: bool = False,
    ) -> StatementError:
        return DBAPIError.instance(
            sql,
            parameters,
            exc,
            psycopg.Error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=self._dialect,
        )

    async def _spawn(self, body: Callable[[], T]) -> T:
        if self._free.locked():
            await self._wait_for_a_connection()
        else:
            await self._free.acquire()  # free: returns at once
        try:
            return await greenlet_spawn(body)
        except OperationalError as exc:
            if isinstance(exc.orig, QueryCanceled):
                logger.warning("database statement timed out: %s", exc.orig)
                raise DatabaseTimeout from exc
            raise
        finally:
            self._free.release()

    async def _wait_for_a_connection(self) -> None:
        with self._waiting:
            try:
                async with asyncio.timeout(self._wait_seconds):
                    await self._free.acquire()
            except TimeoutError:
                logger.warning(
                    "no database connection free after DB_POOL_TIMEOUT_SECONDS=%g",
                    self._wait_seconds,
                )
                raise DatabaseUnavailable from None

    def _autocommit(self, work: Callable[[Connection], T]) -> T:
        with self._sync_engine.connect() as connection:
            return work(connection)

    def _atomic(self, work: Callable[[Connection], T]) -> T:
        with self._sync_engine.connect() as connection, atomic(connection):
            return work(connection)


def _all_rows(connection: Connection, statement: Select[Any], parameters: dict[str, Any]) -> Any:
    return connection.execute(statement, parameters).all()


async def _fetch_all(connection: Any, sql: str, parameters: Mapping[str, Any]) -> list[Any]:
    # A psycopg.AsyncConnection: its cursor class (the statement timeout's), its own prepare
    # setting and the adapters SQLAlchemy gave it apply, as when SQLAlchemy executes.
    cursor = await connection.execute(sql, parameters)
    rows: list[Any] = await cursor.fetchall()
    return rows


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as `Database.rows` runs it: its SQL, and SQLAlchemy's processing of its
    parameters (`UTCDateTime` to UTC) and of its result columns (back to UTC), as the execution
    layer would apply them."""

    compiled: SQLCompiler
    direct: bool
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    # (column index, processor) of the result columns that have one.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> Self:
        compiled = statement.compile(dialect=dialect)
        # By the names the SQL and `construct_params` give them (an anonymous one's included).
        binds = compiled.binds.items()
        direct = not any(bind.expanding or bind.literal_execute for _, bind in binds)
        processors = (
            (name, bind.type.dialect_impl(dialect).bind_processor(dialect)) for name, bind in binds
        )
        columns = (
            (index, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for index, column in enumerate(statement.selected_columns)
        )
        return cls(
            compiled=compiled,
            direct=direct,
            binds=tuple((key, process) for key, process in processors if process is not None),
            results=tuple((index, process) for index, process in columns if process is not None),
        )

    @property
    def sql(self) -> str:
        return self.compiled.string

    def parameters(self, given: dict[str, Any]) -> MutableMapping[str, Any]:
        values = self.compiled.construct_params(given)
        for key, process in self.binds:
            if key in values:
                values[key] = process(values[key])
        return values

    def processed(self, rows: list[Any]) -> list[Any]:
        if not self.results:
            return rows
        processed = []
        for row in rows:
            values = list(row)
            for index, process in self.results:
                values[index] = process(values[index])
            processed.append(values)
        return processed


# A transaction's isolation by database: SQLite's (it has one writer at a time), and
# PostgreSQL's default, under which each statement sees what committed before it began.
_ISOLATION = {"sqlite": "SERIALIZABLE", "postgresql": "READ COMMITTED"}


@contextmanager
def atomic(connection: Connection) -> Iterator[None]:
    """A transaction on this (autocommit) connection, committed when the block ends and rolled
    back if it raises; inside one already, that one. The connection is in autocommit again
    after it, whatever ran on it before."""
    isolation = _ISOLATION[connection.dialect.name]
    if connection.in_transaction():
        if connection.get_execution_options().get("isolation_level") == isolation:
            yield
            return
        # What SQLAlchemy began by itself for a statement run in autocommit: not a transaction
        # at all (each statement committed), and it must end before a real one begins.
        connection.commit()
    connection.execution_options(isolation_level=isolation)
    try:
        with connection.begin():
            yield
    finally:
        connection.execution_options(isolation_level="AUTOCOMMIT")


async def _database(request: Request) -> Database:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request.
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(_database)]
