"""Probes for load balancers and orchestrators; no token needed."""

from fastapi import APIRouter
from sqlalchemy import Connection, literal
from sqlmodel import select

from todo_api.core.database import DatabaseDep
from todo_api.core.errors import DatabaseTimeout, DatabaseUnavailable
from todo_api.core.http import error_responses

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", summary="The process is alive")
async def check_health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="The database answers",
    responses=error_responses(DatabaseUnavailable, DatabaseTimeout),
)
async def check_readiness(db: DatabaseDep) -> dict[str, str]:
    await db.run(_ping)
    return {"status": "ready"}


def _ping(connection: Connection) -> None:
    connection.execute(select(literal(1)))
