"""The database engine, and the one session dependency that owns each request's transaction."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from todo_api.settings import DatabaseURL, Settings


def create_engine(settings: Settings) -> AsyncEngine:
    database: DatabaseURL = settings.database
    if database.is_sqlite:
        engine = create_async_engine(
            database.async_url,
            hide_parameters=True,
            # Writers wait for SQLite's single write lock instead of failing at once.
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        database.async_url,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # Neon closes idle connections when compute scales to zero; recycle before that bites.
        pool_recycle=300,
        connect_args={"connect_timeout": settings.db_connect_timeout_seconds},
    )


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back if it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        yield session


# scope="function" commits before the response is sent, so a 2xx always means "stored".
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
