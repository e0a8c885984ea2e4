"""`Database.rows` and `scalar`, the reads that go past SQLAlchemy's execution layer (the v1
list, a page): the same value as through SQLAlchemy on both databases, and on PostgreSQL the same
errors as `run`: a statement timeout is 503 DATABASE_TIMEOUT, another database error stays
SQLAlchemy's, and the pooled connection is usable after either."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from tests.conftest import postgresql_only
from todo_api.core.database import Database, create_engine
from todo_api.core.errors import DatabaseTimeout
from todo_api.core.settings import Settings
from todo_api.tasks import store


async def _with_database(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings)
    try:
        return await work(Database(engine, settings))
    finally:
        await engine.dispose()


def test_the_list_reads_the_same_as_through_sqlalchemy(settings: Settings) -> None:
    async def both(db: Database) -> tuple[str, str]:
        direct = await store.every_task(db, "nobody-scalar")
        through = await db.run(store.list_tasks, "nobody-scalar")
        return direct, through

    direct, through = asyncio.run(_with_database(settings, both))
    assert direct == through == "[]"


@postgresql_only
def test_a_statement_timeout_is_the_same_503(settings: Settings) -> None:
    slow = settings.model_copy(update={"db_statement_timeout_seconds": 0.2, "db_pool_size": 1})
    sleep: Select[Any] = select(func.pg_sleep(2))
    one: Select[Any] = select(literal_column("1"))

    async def timed_out(db: Database) -> int:
        with pytest.raises(DatabaseTimeout):
            await db.scalar(sleep, {})
        # The one pooled connection was cancelled on the server and is lent again.
        value: int = await db.scalar(one, {})
        return value

    assert asyncio.run(_with_database(slow, timed_out)) == 1


@postgresql_only
def test_another_error_stays_sqlalchemys(settings: Settings) -> None:
    single = settings.model_copy(update={"db_pool_size": 1})
    broken: Select[Any] = select(literal_column("1 / 0"))
    one: Select[Any] = select(literal_column("1"))

    def through_run(connection: Connection) -> Any:
        return connection.execute(broken).scalar_one()

    async def errors(db: Database) -> tuple[type[BaseException], type[BaseException], int]:
        with pytest.raises(DBAPIError) as direct:
            await db.scalar(broken, {})
        with pytest.raises(DBAPIError) as through:
            await db.run(through_run)
        value: int = await db.scalar(one, {})
        return type(direct.value), type(through.value), value

    direct, through, value = asyncio.run(_with_database(single, errors))
    assert direct is through
    assert value == 1
