"""A client of `/events` for the tests: one open stream read into a queue of events."""

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    kind: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class Listener:
    """One open stream, read by a thread into a queue: events and comment lines. A plain
    socket, so that hanging up closes the connection at once, as a browser closing its
    EventSource does (an HTTP client library may keep it open in another thread)."""

    def __init__(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        self.items: queue.Queue[Event | str | None] = queue.Queue()
        self.status: int | None = None
        self.body = ""
        target = httpx.URL(url)
        self._socket = socket.create_connection((target.host, target.port), timeout=120)
        lines = [
            f"GET {target.raw_path.decode()} HTTP/1.1",
            f"Host: {target.host}",
            f"Authorization: Bearer {token}",
            "Accept: text/event-stream",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self._socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(15), "the stream did not open"

    def _chunks(self) -> Iterator[bytes]:
        """The body's bytes as they come (chunked transfer encoding), after the head."""
        reader = self._socket.makefile("rb")
        self.status = int(reader.readline().split()[1])
        while reader.readline() not in (b"\r\n", b""):
            pass
        self._opened.set()
        while size_line := reader.readline():
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                return
            yield reader.read(size)
            reader.readline()

    def _read(self) -> None:
        kind, data, event_id = "message", [], None
        buffer = b""
        try:
            for chunk in self._chunks():
                buffer += chunk
                if self.status != 200:
                    self.body += chunk.decode()
                    continue
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    line = raw.decode().rstrip("\r")
                    if line.startswith(":"):
                        self.items.put(line)
                    elif line.startswith("event:"):
                        kind = line.partition(":")[2].strip()
                    elif line.startswith("data:"):
                        data.append(line.partition(":")[2].strip())
                    elif line.startswith("id:"):
                        event_id = line.partition(":")[2].strip()
                    elif line == "" and data:
                        self.items.put(Event(kind, "\n".join(data), event_id))
                        kind, data, event_id = "message", [], None
        except OSError:
            pass
        finally:
            self._opened.set()
            self.items.put(None)  # the stream ended

    def next_event(self, within: float = 10, kinds: tuple[str, ...] = ()) -> Event:
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no event within {within} s"
            item = self.items.get(timeout=left)
            assert item is not None, "the stream ended"
            if isinstance(item, Event) and (not kinds or item.kind in kinds):
                return item

    def ended(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                if self.items.get(timeout=max(0.01, deadline - time.monotonic())) is None:
                    return True
            except queue.Empty:
                return False
        return False

    def close(self) -> None:
        """Hangs up."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=10)
