"""ASGI middleware: CORS for browsers, a request id and headers on every answer, a last-resort
500, a body limit."""

import json
import logging
import re
import secrets
import time

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.errors import PayloadTooLarge, internal_error_response
from todo_api.log import request_id_var
from todo_api.metrics import observe_request

logger = logging.getLogger("todo_api.request")

# An incoming id is reused only if it cannot smuggle anything into a log line or header.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Answers carry personal data: never cached, never sniffed into another type.
_SECURITY_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


def header(scope: Scope, name: bytes) -> str:
    """One request header, or "" when absent. Starlette's `Headers.get` raises and catches a
    KeyError for every absent header: a measurable cost when done on every request."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class OriginOnlyCORSMiddleware(CORSMiddleware):
    """CORS for requests that carry an `Origin` (browsers); others go straight through."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not header(scope, b"origin"):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class RequestContextMiddleware:
    """A request id, the headers every answer carries, one log line, and (when metrics are on)
    the request's count and duration."""

    def __init__(self, app: ASGIApp, *, metrics: bool) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error")
            if status:
                raise  # the answer has begun; the server can only close the connection
            await internal_error_response()(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            # The route template, never the raw path: bounded labels, and no ids in metrics.
            route = getattr(scope.get("route"), "path", "unmatched")
            principal = scope.get("state", {}).get("principal")
            if self.metrics:
                observe_request(scope["method"], route, status, seconds)
            logger.info(
                "method=%s route=%s status=%s duration_ms=%.1f user_id=%s",
                scope["method"],
                route,
                status,
                seconds * 1000,
                _logfmt(principal.user_id) if principal else "-",
            )
            request_id_var.reset(reset_token)


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:@-]+")


def _logfmt(value: str) -> str:
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
