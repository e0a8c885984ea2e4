"""The one error shape: the API's error types, and the handlers that render every failure."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response

logger = logging.getLogger(__name__)

BEARER_CHALLENGE = 'Bearer realm="todo-api"'


class ApiError(HTTPException):
    """An answer other than success, carrying its status and machine-readable code.

    It is a Starlette HTTPException so that FastAPI lets it through while it reads a body.
    """

    status_code = 500
    error_code = "INTERNAL_ERROR"
    message = "Internal server error"
    field_errors: dict[str, list[str]] | None = None

    def __init__(
        self,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(self.status_code, detail or self.message, headers)
        if field_errors is not None:
            self.field_errors = field_errors


class ValidationFailed(ApiError):
    """A malformed path, query, header or body; `field_errors` says which."""

    status_code = 422
    error_code = "VALIDATION_ERROR"
    message = "The request is not valid"


class BadRequest(ApiError):
    """Bytes the HTTP parser could not read as a request; answered by the server (`protocol`)."""

    status_code = 400
    error_code = "BAD_REQUEST"
    message = "Request is not valid HTTP"


class NotEntityTags(BadRequest):
    """An If-Match or If-None-Match that is not a list of entity tags (`1` for `"1"`)."""

    message = "If-Match and If-None-Match take * or entity tags in double quotes"


class HeadersTooLarge(ApiError):
    """A request head over MAX_HEADER_BYTES; answered by the server (`protocol`)."""

    status_code = 431
    error_code = "HEADERS_TOO_LARGE"
    message = "Request headers are too large"


class InvalidCursor(ApiError):
    """A list's `cursor` (or a sync's `since`) that was altered, or a list's used with other
    filters or another sort."""

    status_code = 422
    error_code = "INVALID_CURSOR"
    message = "This cursor is not valid here"

    def __init__(self, reason: str, parameter: str = "cursor") -> None:
        super().__init__(reason, field_errors={parameter: [reason]})


class MissingToken(ApiError):
    status_code = 401
    error_code = "NOT_AUTHENTICATED"
    message = "Missing bearer token"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": BEARER_CHALLENGE})


class InvalidToken(ApiError):
    """A token that is not accepted; `description` says which case (`auth.tokens` words it),
    in the body and in RFC 6750's `error_description`."""

    status_code = 401
    error_code = "INVALID_TOKEN"
    message = "Invalid or expired token"

    def __init__(self, description: str | None = None) -> None:
        challenge = f'{BEARER_CHALLENGE}, error="invalid_token"'
        if description is not None:
            challenge += f', error_description="{description}"'
        super().__init__(description, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    status_code = 403
    error_code = "FORBIDDEN"
    message = "This token does not belong to the user in the path"


class CORSRefused(ApiError):
    """A browser's preflight from an origin, or for a method or header, that is not allowed."""

    status_code = 403
    error_code = "CORS_REFUSED"
    message = "CORS preflight refused"


class TaskNotFound(ApiError):
    status_code = 404
    error_code = "TASK_NOT_FOUND"
    message = "Task not found"


class CalendarFeedNotFound(ApiError):
    """An unknown or revoked secret calendar address: answered like any unknown path."""

    status_code = 404
    error_code = "NOT_FOUND"
    message = "Not found"


class SyncCursorExpired(ApiError):
    """A `/changes` cursor older than SYNC_RETENTION_DAYS: deletions since may be forgotten."""

    status_code = 410
    error_code = "SYNC_CURSOR_EXPIRED"
    message = "This cursor is older than deletions are remembered; sync again without `since`"


class TooManyStreams(ApiError):
    status_code = 429
    error_code = "TOO_MANY_STREAMS"
    message = "This user has the most event streams open allowed here (MAX_STREAMS_PER_USER)"


class StreamsFull(ApiError):
    """This instance holds MAX_STREAMS streams: another instance may have room."""

    status_code = 503
    error_code = "STREAMS_FULL"
    message = "This instance holds the most event streams it may; retry, maybe elsewhere"


class PreconditionFailed(ApiError):
    """If-Match named versions of which the task has none now: nothing was changed."""

    status_code = 412
    error_code = "PRECONDITION_FAILED"
    message = "The task has changed since the version in If-Match; nothing was changed"


class TagNotFound(ApiError):
    status_code = 404
    error_code = "TAG_NOT_FOUND"
    message = "No task of yours carries this tag"


class TagLimitReached(ApiError):
    status_code = 409
    error_code = "TAG_LIMIT_REACHED"
    message = "This user has the most distinct tags allowed (500); reuse or delete some first"


class ConcurrentChanges(ApiError):
    """Other writes kept changing the task while this one merged its due fields with them."""

    status_code = 409
    error_code = "CONCURRENT_CHANGES"
    message = "The task kept changing while this change was applied; retry"


class PayloadTooLarge(ApiError):
    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"
    message = "Request body is too large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    message = "The body must be JSON: send Content-Type: application/json"
    merge_patch = (
        "A PATCH body is a JSON Merge Patch: send Content-Type: application/merge-patch+json "
        "or application/json (JSON Patch, application/json-patch+json, is not supported)"
    )


class TaskLimitReached(ApiError):
    status_code = 409
    error_code = "TASK_LIMIT_REACHED"
    message = "This user holds the most tasks allowed; delete some first"


class IdempotencyKeyReused(ApiError):
    status_code = 422
    error_code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used for a different request"
    field_errors = {"Idempotency-Key": ["was already used with a different body"]}  # noqa: RUF012


class IdempotencyKeyInProgress(ApiError):
    status_code = 409
    error_code = "IDEMPOTENCY_KEY_IN_PROGRESS"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"


class AuthKeysUnavailable(ApiError):
    """The token names a key that is not cached, and Better Auth's JWKS cannot be fetched."""

    status_code = 503
    error_code = "AUTH_KEYS_UNAVAILABLE"
    message = "The keys to verify this token are unavailable; try again shortly"


class DatabaseUnavailable(ApiError):
    status_code = 503
    error_code = "DATABASE_UNAVAILABLE"
    message = "The database is unavailable; try again shortly"


class DatabaseTimeout(ApiError):
    """A statement ran past DB_STATEMENT_TIMEOUT_SECONDS and was cancelled; nothing was changed."""

    status_code = 503
    error_code = "DATABASE_TIMEOUT"
    message = "The database took too long to answer; try again shortly"


# Codes for the HTTP errors that the framework raises itself (unknown route, wrong method, ...).
_CODES_BY_STATUS = {
    401: "NOT_AUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
_OTHER_HTTP_ERROR = "HTTP_ERROR"


def _kinds(base: type[ApiError]) -> list[type[ApiError]]:
    return [base] + [kind for sub in base.__subclasses__() for kind in _kinds(sub)]


def error_codes() -> list[str]:
    """Every `error_code` the API answers with, for clients to switch on (the OpenAPI enum)."""
    codes = {kind.error_code for kind in _kinds(ApiError)} | set(_CODES_BY_STATUS.values())
    return sorted(codes | {_OTHER_HTTP_ERROR})


def error_response(
    status_code: int,
    error_code: str,
    detail: str,
    *,
    field_errors: dict[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"detail": detail, "error_code": error_code}
    if field_errors is not None:
        body["field_errors"] = field_errors
    return Response(orjson.dumps(body), status_code, headers=headers, media_type="application/json")


def internal_error_response() -> Response:
    return error_response(500, ApiError.error_code, ApiError.message)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        return error_response(
            exc.status_code,
            exc.error_code,
            exc.detail,
            field_errors=exc.field_errors,
            headers=exc.headers,
        )
    status = exc.status_code
    if status == 400:
        # FastAPI's only 400 is a body it could not parse (nested too deep, say): to a client
        # that is a malformed body like any other, so it gets the same 422.
        return error_response(
            ValidationFailed.status_code,
            ValidationFailed.error_code,
            ValidationFailed.message,
            field_errors={"body": ["Body could not be parsed as JSON"]},
        )
    # Framework errors keep their status but never their wording, which may name internals.
    return error_response(
        status,
        _CODES_BY_STATUS.get(status, _OTHER_HTTP_ERROR),
        HTTPStatus(status).phrase,
        headers=exc.headers,
    )


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    field_errors: dict[str, list[str]] = {}
    for error in exc.errors():
        field, message = _describe(error)
        field_errors.setdefault(field, []).append(message)
    return error_response(
        ValidationFailed.status_code,
        ValidationFailed.error_code,
        ValidationFailed.message,
        field_errors=field_errors,
    )


def _describe(error: Any) -> tuple[str, str]:
    """The client's field (a body field, a parameter, a header) and what is wrong with it. An
    error in one item of a list names the field, and the item in the message."""
    location = list(error.get("loc", ()))
    where, names = (str(location[0]), location[1:]) if location else ("body", [])
    kind = error.get("type")
    if kind == "json_invalid":
        return "body", "Body is not valid JSON"
    if where == "body" and not names:
        if kind == "missing":
            return "body", "A JSON body is required"
        return "body", "Body must be a JSON object"
    message = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
    items = [part for part in names[1:] if isinstance(part, int)]
    if items:
        message = f"item {items[0] + 1}: {message}"
    return str(names[0]) if names else where, message


async def _database_unavailable(_: Request, exc: Exception) -> Response:
    # Logged without the statement or parameters: they may hold user data.
    logger.warning("database unavailable: %s", type(exc).__name__)
    error = DatabaseUnavailable()
    return error_response(error.status_code, error.error_code, error.detail)


async def _database_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _database_unavailable(_, exc)
    logger.error("database error: %s", type(exc.orig).__name__, exc_info=exc)
    return internal_error_response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
