"""Opaque cursors: a small JSON payload that a client hands back as it got it, with a checksum, so
that any change to it is noticed (422 INVALID_CURSOR). Not a secret: it says where the caller's
own list or sync stands, and every query it feeds is by owner, so a forged one could only start
the caller somewhere else among their own tasks."""

import base64
import binascii
import hashlib
from typing import Any

import orjson

from todo_api.errors import InvalidCursor

ALTERED = "This cursor was altered; use the one the API gave"


def seal(payload: dict[str, Any], kind: bytes) -> str:
    """`payload` as a cursor of this kind (a list page's, a sync's): one kind's cursor is never
    read as another's."""
    raw = orjson.dumps(payload)
    return _b64(raw) + "." + _b64(_checksum(raw, kind))


def unseal(cursor: str, kind: bytes, parameter: str) -> dict[str, Any]:
    """The payload of a cursor of this kind, given as `parameter`; INVALID_CURSOR naming that
    parameter when it is not one the API made."""
    raw_text, _, check = cursor.partition(".")
    try:
        raw = _unb64(raw_text)
        if _b64(_checksum(raw, kind)) != check:
            raise InvalidCursor(ALTERED, parameter)
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor(ALTERED, parameter) from None
    if not isinstance(payload, dict):
        raise InvalidCursor(ALTERED, parameter)
    return payload


def _checksum(raw: bytes, kind: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=12, person=b"todo-api-" + kind).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
