"""Idempotency keys: a create retried with the same `Idempotency-Key` and body gets the first
answer again instead of a second task. Keys live in the database, per user, so every instance
sees them; they expire after a configured time.

The key is claimed in the same transaction that creates the task, so a claimed key always has its
answer stored by the time anyone else can see it. A concurrent retry waits on the claim
(PostgreSQL row lock, SQLite's write lock) and then replays the stored answer.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from todo_api.core.errors import IdempotencyKeyInProgress, IdempotencyKeyReused
from todo_api.core.models import IdempotencyKey


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    body: str


def fingerprint(body: BaseModel) -> str:
    """The same request, however its JSON was spaced or ordered, has the same fingerprint."""
    canonical = orjson.dumps(body.model_dump(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _this_key(user_id: str, key: str) -> ColumnElement[bool]:
    return (col(IdempotencyKey.user_id) == user_id) & (col(IdempotencyKey.key) == key)


def claim(
    connection: Connection, user_id: str, key: str, request_hash: str, ttl: timedelta
) -> StoredAnswer | None:
    """Claims the key for this request (None), or returns the answer stored under it."""
    now = datetime.now(UTC)
    expired = now - ttl
    connection.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.created_at) < expired
        )
    )
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    claimed = connection.execute(
        dialect.insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing()
        .returning(col(IdempotencyKey.key))
    )
    if claimed.first() is not None:
        return None
    existing = (
        connection.execute(
            select(
                col(IdempotencyKey.request_hash),
                col(IdempotencyKey.status_code),
                col(IdempotencyKey.response_body),
            ).where(_this_key(user_id, key))
        )
    ).one_or_none()
    if existing is not None and existing.request_hash != request_hash:
        raise IdempotencyKeyReused
    if existing is None or existing.status_code is None or existing.response_body is None:
        # Only seen if the key's row changed between our two statements: a retry settles it.
        raise IdempotencyKeyInProgress
    return StoredAnswer(existing.status_code, existing.response_body)


def remember(connection: Connection, user_id: str, key: str, status_code: int, body: str) -> None:
    connection.execute(
        update(IdempotencyKey)
        .where(_this_key(user_id, key))
        .values(status_code=status_code, response_body=body)
    )
