"""How routes answer: JSON text as the database built it, and documented error answers."""

from typing import Any

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


class JSONText(Response):
    """An answer whose JSON is already written (by the database, see `task_json`)."""

    media_type = "application/json"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
