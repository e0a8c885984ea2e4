"""How routes answer: JSON text as the database built it, and the documentation of what a route
answers: its errors, declared as the error classes it raises, and the headers every answer
carries."""

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import Response

from todo_api.auth.guard import OwnerRoute, bearer_scheme
from todo_api.core.bodies import ErrorBody
from todo_api.core.errors import (
    ApiError,
    AuthKeysUnavailable,
    DatabaseTimeout,
    DatabaseUnavailable,
    Forbidden,
    InvalidToken,
    MissingToken,
    ValidationFailed,
)

REQUEST_ID_HEADER = {
    "X-Request-ID": {
        "description": "Identifies this request in the server's log: the client's own "
        "X-Request-ID when it sent a safe one (up to 128 of `A-Za-z0-9._:-`), else a new one",
        "schema": {"type": "string"},
    }
}


# What FastAPI takes as a route's `responses`.
Responses = dict[int | str, dict[str, Any]]

ETAG_HEADER: dict[str, Any] = {
    "ETag": {
        "description": 'The task\'s version, quoted (`"3"`): send it back in If-Match to '
        "change only that version, or in If-None-Match to get a 304 while it is current",
        "schema": {"type": "string"},
    }
}
LIST_ETAG_HEADER: dict[str, Any] = {
    "ETag": {
        "description": "Changes whenever the list's body would: send it back in If-None-Match "
        "to get a 304 while the list is unchanged",
        "schema": {"type": "string"},
    }
}

LINK_HEADER: dict[str, Any] = {
    "Link": {
        "description": "With `limit`, when more tasks follow: `</api/{user_id}/tasks?…>; "
        'rel="next"`, a relative URL with the same parameters and the next page\'s cursor',
        "schema": {"type": "string"},
    }
}


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag})


class JSONText(Response):
    """An answer whose JSON is already written (by the database, see `task_json`)."""

    media_type = "application/json"


def error_responses(*errors: type[ApiError]) -> Responses:
    """The OpenAPI answers of a route that raises these errors, by status, each naming its
    `error_code`s."""
    by_status: dict[int, list[type[ApiError]]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, []).append(error)
    return {
        status: {
            "model": ErrorBody,
            "description": "; ".join(f"`{e.error_code}`: {e.message}" for e in kinds),
        }
        for status, kinds in by_status.items()
    }


def owner_route_errors() -> Responses:
    """What any route under /api/{user_id}/ may answer, whatever it does: its token refused,
    another user's path, a malformed request, and the database or Better Auth's keys out of
    reach."""
    return error_responses(
        MissingToken,
        InvalidToken,
        Forbidden,
        ValidationFailed,
        ApiError,
        DatabaseUnavailable,
        DatabaseTimeout,
        AuthKeysUnavailable,
    )


def owner_router(resource: str, tag: str | None = None) -> APIRouter:
    """The router of `/api/{user_id}/<resource>`: every route checked by OwnerRoute (the token's
    user is the path's) and documented with the answers any such route may give."""
    return APIRouter(
        prefix=f"/api/{{user_id}}/{resource}",
        tags=[tag or resource],
        route_class=OwnerRoute,
        dependencies=[Depends(bearer_scheme)],
        responses=owner_route_errors(),
    )


def operation_id(route: APIRoute) -> str:
    """The operation id a person would write, for client generators: `list_tasks` → `listTasks`."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def add_request_id_headers(document: dict[str, Any]) -> None:
    """Documents `X-Request-ID`, which the middleware adds, on every answer."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for answer in operation.get("responses", {}).values():
                answer.setdefault("headers", {}).update(REQUEST_ID_HEADER)
