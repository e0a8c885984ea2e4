"""How routes answer: JSON bytes straight from database rows, and documented error answers."""

from typing import Any

import orjson
from starlette.responses import Response

from todo_api.schemas import ErrorBody

_ERROR_DESCRIPTIONS = {
    401: "Missing, invalid or expired token",
    403: "The token's user is not the user in the path",
    404: "No such task among the caller's tasks",
    409: "The user holds the most tasks allowed, or the same Idempotency-Key is in flight",
    413: "Body larger than the configured limit",
    422: "Malformed path or body; `field_errors` says which fields",
    500: "Unexpected error; the X-Request-ID header locates it in the server log",
    503: "The database, or Better Auth's keys (JWKS) for this token, are unavailable",
}


class JSONBytes(Response):
    """Serialises with orjson: datetimes become ISO-8601 with their UTC offset."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
