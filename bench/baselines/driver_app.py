"""Driver ceiling: the fastest honest way to give the service's list answer. Verify the JWT, run
one asyncpg statement in which PostgreSQL formats every field a client sees of a task
(todo_api.tasks.schemas.TaskPublic) and aggregates the rows with `json_agg`, and send that text
as it comes: no row is decoded into Python objects and encoded again. The bench checks before it
measures that the body is byte for byte the service's (`bench/run.py`, `same_answers`).

`decoded_driver_app.py` is the ceiling before it, which decodes the rows and encodes them with
orjson: slower than the technique the service itself uses, so a weaker baseline.

The pool waits for a free connection without a time limit, so 1,000 clients queue instead of
failing; 16 connections are plenty for one worker on two cores.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request, Response

from bench.baselines.auth import verify

POOL_SIZE = int(os.environ.get("BENCH_DRIVER_POOL", "16"))
LIST_SQL = """
    SELECT coalesce(json_agg(task ORDER BY task.id), '[]'::json)::text
    FROM (
        SELECT id, user_id, title, description, completed,
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
                AS created_at,
            to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
                AS updated_at,
            (ARRAY['none', 'low', 'medium', 'high'])[priority + 1] AS priority, tags, due_date,
            to_char(due_time, 'HH24:MI') AS due_time, timezone,
            to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS due_at,
            to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
                AS completed_at,
            version, recurrence, reminders, next_task_id
        FROM tasks WHERE user_id = $1
    ) AS task
"""


class State:
    pool: asyncpg.Pool


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    State.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=POOL_SIZE, max_size=POOL_SIZE
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
        body: str = await connection.fetchval(LIST_SQL, user_id)
    return Response(body, media_type="application/json")
