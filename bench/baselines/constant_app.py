"""Framework ceiling: verify the JWT, then answer a constant, pre-encoded list of 50 tasks."""

from datetime import UTC, datetime

import orjson
from fastapi import FastAPI, Request, Response

from bench.baselines.auth import verify

_NOW = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
PAYLOAD = orjson.dumps(
    [
        {
            "id": i,
            "user_id": "constant",
            "title": f"Task {i}",
            "description": "A constant task" if i % 2 else None,
            "completed": i % 3 == 0,
            "created_at": _NOW,
            "updated_at": _NOW,
        }
        for i in range(1, 51)
    ]
)

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/api/{user_id}/tasks")
async def list_tasks(user_id: str, request: Request) -> Response:
    verify(request.headers.get("authorization"), user_id)
    return Response(PAYLOAD, media_type="application/json")
