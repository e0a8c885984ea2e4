"""uvicorn's fast HTTP protocol (httptools) with the limits on request heads that uvicorn lacks,
and the answers it makes before the app can run given in the API's error shape.

- Size: httptools buffers a request line and headers of any size, so a client could send tens of
  megabytes of headers and the server would hold them all. The bytes of each request head are
  counted as they arrive; past the limit the answer is 431.
- Time: uvicorn has no header timeout, so a client that sends part of a head and stops (or
  connects and sends nothing) would hold its connection forever. A head must be complete within
  the timeout, counted from the connection's start and, on a kept-alive connection, from the
  first byte of the next head; otherwise the connection is closed. Idle time between requests is
  uvicorn's `timeout_keep_alive`; the pace of a body is not bounded here.
- Requests httptools cannot parse are answered 400, where uvicorn answers in plain text.

This subclasses an internal of uvicorn that an upgrade may change: tests/test_protocol.py runs
every override against a real server.
"""

import asyncio
import logging
import secrets
import sys
from http import HTTPStatus
from typing import Any

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from todo_api.core.errors import ApiError, BadRequest, HeadersTooLarge
from todo_api.core.log import request_id_var

logger = logging.getLogger("todo_api.request")

_HEAD_END = b"\r\n\r\n"
# What RequestContextMiddleware adds to the app's answers, for answers made without the app.
_REFUSAL_HEADERS = (
    b"content-type: application/json\r\n"
    b"cache-control: no-store\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"connection: close\r\n"
)


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, serving with this protocol and its limits. uvicorn pickles its
    Config into every worker process it starts, so the limits reach each one."""

    def __init__(
        self, app: Any, *, max_head_bytes: int, header_timeout: float, **options: Any
    ) -> None:
        super().__init__(app, http=BoundedHeadHttpToolsProtocol, **options)
        self.max_head_bytes = max_head_bytes
        self.header_timeout = header_timeout


class BoundedHeadHttpToolsProtocol(HttpToolsProtocol):
    config: ServerConfig

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()
        # From the start, so that a connection that never sends a byte is closed too.
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.config.header_timeout, self.transport.close
        )

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # Only the bytes up to the blank line that ends the head count; a body that came in
            # the same read does not. The last three bytes are kept for a split "\r\n\r\n".
            window = self._tail + data
            end = window.find(_HEAD_END)
            if end < 0:
                self._head_bytes += len(data)
                self._tail = window[-3:]
            else:
                self._head_bytes += end + len(_HEAD_END) - len(self._tail)
            if self._head_bytes > self.config.max_head_bytes:
                self._refuse(HeadersTooLarge)
                return
        super().data_received(data)
        # Part of a later head is here and the rest is not: its clock starts now. A head that
        # arrives whole, the usual case on a kept-alive connection, sets no timer at all.
        if self._in_head and self._head_bytes and self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.config.header_timeout, self.transport.close
            )

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._start_head()

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while it handles the parser's error, which says what was wrong;
        # its own message is one text for every error.
        if isinstance(sys.exception(), httptools.HttpParserInvalidMethodError):
            self._refuse(BadRequest, "Request method is not supported")
        else:
            self._refuse(BadRequest)

    def _refuse(self, error: type[ApiError], detail: str | None = None) -> None:
        """Answer in the error shape and close: after a head the server would not read, the
        rest of what the client sends cannot be told apart into requests."""
        request_id = secrets.token_hex(16)
        error_code = error.error_code
        status = HTTPStatus(error.status_code)
        body = orjson.dumps({"detail": detail or error.message, "error_code": error_code})
        status_line = f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()
        # uvicorn's Date, as on the app's answers.
        defaults = [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        self.transport.write(
            b"".join(
                [
                    status_line,
                    *defaults,
                    _REFUSAL_HEADERS,
                    b"x-request-id: " + request_id.encode() + b"\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
        # Never the request's own bytes: they are whatever the client chose to send.
        reset_token = request_id_var.set(request_id)
        logger.info("method=- route=- status=%s error_code=%s", status.value, error_code)
        request_id_var.reset(reset_token)
