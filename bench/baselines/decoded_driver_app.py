"""The driver ceiling before `driver_app.py`: verify the JWT, one asyncpg query, every row decoded
into Python values and encoded again with orjson. Kept beside the real ceiling to show what that
round trip costs; it is slower than the service's own technique (PostgreSQL's `json_agg`, the
text passed through), so the service is never judged against it.

It answers what the service answers: every field a client sees of a task (todo_api.tasks.schemas.
TaskPublic), formatted as the service formats them, so that the ratio measures the service's
overhead and not a smaller answer.

The pool waits for a free connection without a time limit, so 1,000 clients queue instead of
failing; 16 connections are plenty for one worker on two cores.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response

from bench.baselines.auth import verify

POOL_SIZE = int(os.environ.get("BENCH_DRIVER_POOL", "16"))
LIST_SQL = """
    SELECT id, user_id, title, description, completed, created_at, updated_at,
        (ARRAY['none', 'low', 'medium', 'high'])[priority + 1] AS priority, tags,
        due_date, to_char(due_time, 'HH24:MI') AS due_time, timezone, due_at, completed_at, version,
        recurrence, reminders, next_task_id
    FROM tasks WHERE user_id = $1 ORDER BY id
"""


async def _json_as_values(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "json",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


class State:
    pool: asyncpg.Pool


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    State.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=POOL_SIZE, max_size=POOL_SIZE, init=_json_as_values
    )
    try:
        yield
    finally:
        await State.pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/api/{user_id}/tasks")
async def list_tasks(user_id: str, request: Request) -> Response:
    verify(request.headers.get("authorization"), user_id)
    async with State.pool.acquire() as connection:
        rows = await connection.fetch(LIST_SQL, user_id)
    return Response(orjson.dumps([dict(row) for row in rows]), media_type="application/json")
