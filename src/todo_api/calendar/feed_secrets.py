"""The secret address of a user's calendar feed, for calendar apps, which cannot send a token.

The secret is 256 random bits (`secrets.token_urlsafe`): guessing one is hopeless at any rate of
requests. Only its SHA-256 is stored, so the table leaks no address. An address is looked up by
that hash, a value an attacker cannot steer, then compared in constant time. A new secret
replaces the old one in the same row (the old address stops working at once); revoking deletes
the row.
"""

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from todo_api.core.models import CalendarFeed

_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 32 bytes, base64url, unpadded
_BY_HASH = select(col(CalendarFeed.user_id), col(CalendarFeed.secret_hash)).where(
    col(CalendarFeed.secret_hash) == bindparam("secret_hash")
)
_REVOKE = delete(CalendarFeed).where(col(CalendarFeed.user_id) == bindparam("owner_id"))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_path(secret: str) -> str:
    return f"/calendar/{secret}.ics"


def new_secret(connection: Connection, user_id: str) -> str:
    """A new secret for the user's feed, replacing any earlier one; returned once, never kept."""
    secret = secrets.token_urlsafe(32)
    row = {"user_id": user_id, "secret_hash": _hash(secret), "created_at": datetime.now(UTC)}
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(CalendarFeed).values(row)
    replacing = {"secret_hash": statement.excluded.secret_hash, "created_at": row["created_at"]}
    connection.execute(
        statement.on_conflict_do_update(index_elements=[col(CalendarFeed.user_id)], set_=replacing)
    )
    return secret


def revoke(connection: Connection, user_id: str) -> None:
    connection.execute(_REVOKE, {"owner_id": user_id})


def owner_of(connection: Connection, secret: str) -> str | None:
    """The user whose feed this secret opens, or None."""
    if not _SECRET.fullmatch(secret):
        return None
    wanted = _hash(secret)
    row = connection.execute(_BY_HASH, {"secret_hash": wanted}).first()
    if row is None or not hmac.compare_digest(row.secret_hash, wanted):
        return None
    owner: str = row.user_id
    return owner
