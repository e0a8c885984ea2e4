"""Opaque cursors: a small JSON payload that a client hands back as it got it, with a checksum, so
that any change to it is noticed (422 INVALID_CURSOR). Not a secret: it says where the caller's
own list or sync stands, and every query it feeds is by owner, so a forged one could only start
the caller somewhere else among their own tasks.

A cursor answers only where it was made: its kind (a list page's, a sync's) is in its checksum,
and its user in its payload, so that a cursor sent to the wrong place is told apart from an
altered one, and the 422 says which."""

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from todo_api.core.errors import InvalidCursor

ALTERED = "This cursor was altered; use the one the API gave"
ANOTHER_USER = "This cursor was made for another user; use one the API gave you"


@dataclass(frozen=True)
class CursorKind:
    # Personalizes the checksum: the same payload sealed as two kinds gives two cursors.
    tag: bytes
    # What it is and where it comes from, for the 422 of one sent elsewhere.
    said: str


LIST_PAGE = CursorKind(b"cursor", "a list page's cursor (from a Link header)")
SYNC = CursorKind(b"sync", "a sync cursor (from /changes or an event's id)")
_KINDS = (LIST_PAGE, SYNC)


def seal(payload: dict[str, Any], kind: CursorKind, owner: str) -> str:
    """`payload` as a cursor of this kind for this user."""
    raw = orjson.dumps(payload | {"o": _owner_tag(owner)})
    return _b64(raw) + "." + _b64(_checksum(raw, kind))


def unseal(cursor: str, kind: CursorKind, parameter: str, owner: str) -> dict[str, Any]:
    """The payload of a cursor of this kind made for `owner`, given as `parameter`;
    INVALID_CURSOR naming that parameter, and saying why, when it is not."""
    raw_text, _, check = cursor.partition(".")
    try:
        raw = _unb64(raw_text)
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor(ALTERED, parameter) from None
    made_as = next((made for made in _KINDS if _b64(_checksum(raw, made)) == check), None)
    if made_as is None or not isinstance(payload, dict):
        raise InvalidCursor(ALTERED, parameter)
    if made_as is not kind:
        raise InvalidCursor(f"This is {made_as.said}, not {kind.said}", parameter)
    # Cursors made before the user was sealed in have none: they stay good.
    if payload.pop("o", None) not in (None, _owner_tag(owner)):
        raise InvalidCursor(ANOTHER_USER, parameter)
    return payload


def _owner_tag(owner: str) -> str:
    # A hash rather than the id, which may be long: 48 bits tell one user's cursor from another's.
    return _b64(hashlib.blake2b(owner.encode(), digest_size=6).digest())


def _checksum(raw: bytes, kind: CursorKind) -> bytes:
    return hashlib.blake2b(raw, digest_size=12, person=b"todo-api-" + kind.tag).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
