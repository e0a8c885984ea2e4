"""Where a request is authenticated: before FastAPI reads its body, so that an unauthenticated
request gets 401 (and a request for another user's path 403) whatever it sends. A body is then
read (413 when too large) and must be JSON (415), before FastAPI validates it (422)."""

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from todo_api.auth.tokens import (
    NOT_BEARER,
    KeysUnavailable,
    Principal,
    TokenRejected,
    TokenVerifier,
)
from todo_api.core.errors import (
    AuthKeysUnavailable,
    Forbidden,
    InvalidToken,
    MissingToken,
    UnsupportedMediaType,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Declared on the owner routes' router so that /docs offers the "Authorize" button; the check
# itself is done by OwnerRoute, before the body is read.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BetterAuthBearer",
    description="A JWT from Better Auth: `Authorization: Bearer <token>`",
)


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise MissingToken
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken(NOT_BEARER)
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(token)
    except TokenRejected as exc:
        logger.info("token rejected: %s", exc)
        raise InvalidToken(exc.public) from None
    except KeysUnavailable as exc:
        logger.warning("token not verifiable now: %s", exc)
        raise AuthKeysUnavailable from None


# An endpoint's shortcut (`answers_directly`): called once the caller is checked, it answers
# the requests it can without FastAPI's dependency solving, and returns None for every other.
FastPath = Callable[[Request], Awaitable[Response | None]]
_FAST_PATH = "__todo_api_fast_path__"


def answers_directly(fast_path: FastPath) -> Callable[[T], T]:
    """Gives an endpoint a shortcut for its most frequent requests. FastAPI's solving of the task
    list's dependencies (its query-parameter model, validated even for an empty query, the
    header, the path) took a sixth of the v1 list's time and a fifth of a page's
    (docs/benchmarks.md, issue 21). The shortcut must answer exactly as the endpoint would, and
    return None for whatever it does not handle (an invalid request: the endpoint's 422)."""

    def mark(endpoint: T) -> T:
        setattr(endpoint, _FAST_PATH, fast_path)
        return endpoint

    return mark


class OwnerRoute(APIRoute):
    """A route under /api/{user_id}/: only that user's valid token may call it. Its handler can
    take the path's `user_id` as the caller: a token for anyone else got 403 before it ran."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        fast_path: FastPath | None = getattr(self.endpoint, _FAST_PATH, None)
        takes_body = self.body_field is not None
        # A PATCH body is a JSON Merge Patch (RFC 7396); a JSON Patch (RFC 6902), though
        # `+json` too, is another format, which this API does not read.
        is_body, refusal = (
            (is_merge_patch, UnsupportedMediaType.merge_patch)
            if "PATCH" in (self.methods or ())
            else (is_json, None)
        )

        async def owner_only(request: Request) -> Response:
            principal = await authenticate(request)
            if request.path_params.get("user_id") != principal.user_id:
                raise Forbidden
            request.state.principal = principal
            # FastAPI keeps the body it reads here for the handler.
            if takes_body and await request.body() and not is_body(request):
                raise UnsupportedMediaType(refusal)
            if fast_path is not None:
                answer = await fast_path(request)
                if answer is not None:
                    return answer
            return await handler(request)

        return owner_only


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def is_json(request: Request) -> bool:
    """`application/json` or a `+json` type (`application/merge-patch+json`), with any
    parameters: what FastAPI parses as JSON. A body without a Content-Type is not JSON."""
    media_type = _media_type(request)
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def is_merge_patch(request: Request) -> bool:
    return _media_type(request) in ("application/json", "application/merge-patch+json")
