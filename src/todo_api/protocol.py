"""uvicorn's fast HTTP protocol (httptools) with a bound on the size of a request's head.

httptools buffers a request line and headers of any size: a client could send tens of
megabytes of headers and the server would hold them all. This protocol counts the bytes of each
request head as they arrive and answers 431 in the API's error shape, then closes the
connection, once they pass the limit. The limit travels in uvicorn's own setting for the same
bound under h11 (`h11_max_incomplete_event_size`), so it reaches every worker process.
"""

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEAD_BYTES = 32 * 1024
_HEAD_END = b"\r\n\r\n"

_BODY = orjson.dumps({"detail": "Request headers are too large", "error_code": "HEADERS_TOO_LARGE"})
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"cache-control: no-store\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


class BoundedHeadHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._max_head = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self._start_head()

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
            if self._head_bytes > self._max_head:
                self.transport.write(_REFUSAL)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._start_head()
