"""ASGI middleware, outermost first: a request id and headers on every answer (and its log line),
HEAD served as GET, CORS for browsers, a last-resort 500, a body limit. Every answer made here
is in the API's error shape."""

import json
import logging
import re
import secrets
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.core.errors import (
    CORSRefused,
    PayloadTooLarge,
    error_response,
    internal_error_response,
)
from todo_api.core.log import request_id_var
from todo_api.core.metrics import observe_request

logger = logging.getLogger("todo_api.request")

# An incoming id is reused only if it cannot smuggle anything into a log line or header.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Answers carry personal data: never cached, never sniffed into another type.
_SECURITY_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


def header_or_none(scope: Scope, name: bytes) -> str | None:
    """One request header as FastAPI's `Header()` reads it: its first value, None when absent.
    Starlette's `Headers.get` raises and catches a KeyError for every absent header: a
    measurable cost when done on every request."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def header(scope: Scope, name: bytes) -> str:
    """One request header, or "" when absent."""
    return header_or_none(scope, name) or ""


class OriginOnlyCORSMiddleware(CORSMiddleware):
    """CORS for requests that carry an `Origin` (browsers); others go straight through.

    Preflights are answered here: 204 with the CORS headers, or a 403 in the error shape
    (Starlette's own answers are `200 OK` and `400 Disallowed CORS origin` as plain text)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not header(scope, b"origin"):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name.startswith("access-control-") or name == "vary"
        }
        if answer.status_code < 400:
            return Response(status_code=204, headers=headers)
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        return error_response(
            CORSRefused.status_code,
            CORSRefused.error_code,
            f"{CORSRefused.message}: {refused} not allowed",
            headers=headers,
        )


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Marks a HEAD request, which the app sees as a GET: for a route whose GET would never end.
_HEAD = "todo_api.head"


def asked_for_head(scope: Scope) -> bool:
    """Whether the request was a HEAD, answered as its GET without a body."""
    return bool(scope.get(_HEAD))


class RequestContextMiddleware:
    """A request id, the headers every answer carries, one log line, and (when metrics are on)
    the request's count and duration. Outermost, so that every answer made by the app or the
    middleware inside it (CORS preflights included) carries them.

    HEAD is answered like GET without a body, wherever GET is served (uptime monitors use it;
    FastAPI's routes, unlike Starlette's, would answer it 405). The server itself sends no body
    for HEAD: it still sees the request's own method."""

    def __init__(
        self, app: ASGIApp, *, metrics: bool, on_write: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Told the user of every write that succeeded: the live streams to wake.
        self.on_write = on_write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            scope = {**scope, "method": "GET", _HEAD: True}
        incoming = header(scope, b"x-request-id")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        reset_token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    *_SECURITY_HEADERS,
                ]
            elif method == "HEAD":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            # The route template, never the raw path: bounded labels, and no ids in metrics.
            route = getattr(scope.get("route"), "path", "unmatched")
            principal = scope.get("state", {}).get("principal")
            if self.on_write and principal and method in _WRITES and 200 <= status < 400:
                self.on_write(principal.user_id)
            if self.metrics:
                observe_request(method, route, status, seconds)
            logger.info(
                "method=%s route=%s status=%s duration_ms=%.1f user_id=%s",
                method,
                route,
                status,
                seconds * 1000,
                logfmt(principal.user_id) if principal else "-",
            )
            request_id_var.reset(reset_token)


class LastResortMiddleware:
    """An unexpected exception becomes a generic 500 in the error shape, logged with its stack
    trace. Inside CORS, so that a browser can read the 500 too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            logger.exception("unhandled error")
            if started:
                raise  # the answer has begun; the server can only close the connection
            await internal_error_response()(scope, receive, send)


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:@-]+")


def logfmt(value: str) -> str:
    """A value as one logfmt field: bare when plain, quoted and escaped otherwise (a user id
    may hold spaces, quotes or line breaks)."""
    return value if _PLAIN_VALUE.fullmatch(value) else json.dumps(value)


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413, but only when the body is read: an unauthenticated
    request is answered 401 before that, whatever it sends."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        too_large = declared.isdigit() and int(declared) > self.max_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise PayloadTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge
            return message

        await self.app(scope, limited_receive, send)
