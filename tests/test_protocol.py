"""The HTTP protocol under `todo-api serve` (src/todo_api/protocol.py), over raw sockets: answers
made before the app can run, and slow or silent clients. Each override of uvicorn's protocol is
exercised here, so a uvicorn upgrade that breaks one fails."""

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SECRET, make_token
from tests.serving import TODO_API, Service, clean_env

HEADER_TIMEOUT = 1.0
# Bounds for "closed by the header timeout", loose on purpose: test machines are noisy.
CLOSED_AFTER_AT_LEAST = 0.5
CLOSED_WITHIN = 10.0
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("protocol")
    settings = {
        "DATABASE_URL": f"sqlite:///{directory / 'todo.db'}",
        "BETTER_AUTH_SECRET": SECRET,
        "HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    subprocess.run(
        [TODO_API, "migrate"], env=clean_env(**settings), cwd=directory, check=True, timeout=120
    )
    running = Service(directory, settings).start()
    yield running
    running.stop()


def connect(service: Service) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=CLOSED_WITHIN + 5)


def seconds_until_closed(sock: socket.socket) -> float:
    """How long the server takes to close this connection; it must send nothing meanwhile."""
    started = time.monotonic()
    try:
        received = sock.recv(65536)
    except ConnectionResetError:
        received = b""
    except TimeoutError:
        pytest.fail("the server held the connection open")
    assert received == b"", received
    return time.monotonic() - started


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (with a Content-Length) from a connection that may stay open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {raw!r}"
        raw += chunk
    head, body = raw.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def answer_to(service: Service, raw_request: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(service) as sock:
        sock.sendall(raw_request)
        answer = read_response(sock)
        seconds_until_closed(sock)  # the server closes after refusing
    return answer


def assert_refusal_headers(headers: dict[str, str]) -> None:
    assert headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(headers["x-request-id"]), headers
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"
    assert "date" in headers


def logged_line(service: Service, request_id: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in service.log().splitlines() if request_id in line]
        if lines:
            return lines[0]
        time.sleep(0.05)
    pytest.fail(f"no log line with request id {request_id}: {service.log()}")


def test_an_oversized_head_gets_431_in_the_error_shape(service: Service) -> None:
    status, headers, body = answer_to(
        service, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40_000 + b"\r\n\r\n"
    )
    assert status == 431
    assert_refusal_headers(headers)
    assert json.loads(body) == {
        "detail": "Request headers are too large",
        "error_code": "HEADERS_TOO_LARGE",
    }
    line = logged_line(service, headers["x-request-id"])
    assert "method=- route=- status=431 error_code=HEADERS_TOO_LARGE" in line
    assert "aaaa" not in line


@pytest.mark.parametrize(
    ("raw_request", "detail"),
    [
        # What `curl -X BREWCOFFEE` sends: llhttp knows no such method.
        (b"BREWCOFFEE /health HTTP/1.1\r\nHost: x\r\n\r\n", "Request method is not supported"),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
            "Request method is not supported",
        ),
        (b"GET /health HTTP/1.1\r\nBREW COFFEE: x\r\n\r\n", "Request is not valid HTTP"),
        (b"GET /health HTTP/7.3\r\nHost: x\r\n\r\n", "Request is not valid HTTP"),
    ],
    ids=["unknown-method", "tls-on-plain-http", "bad-header-name", "bad-version"],
)
def test_a_request_that_cannot_be_parsed_gets_400_in_the_error_shape(
    service: Service, raw_request: bytes, detail: str
) -> None:
    status, headers, body = answer_to(service, raw_request)
    assert status == 400
    assert_refusal_headers(headers)
    assert json.loads(body) == {"detail": detail, "error_code": "BAD_REQUEST"}
    line = logged_line(service, headers["x-request-id"])
    assert "method=- route=- status=400 error_code=BAD_REQUEST" in line
    assert "BREW" not in service.log()


def test_a_head_that_stops_halfway_is_closed_after_the_header_timeout(service: Service) -> None:
    with connect(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert CLOSED_AFTER_AT_LEAST < seconds_until_closed(sock) < CLOSED_WITHIN
    assert httpx.get(f"{service.url}/health").status_code == 200


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    service: Service,
) -> None:
    with connect(service) as sock:
        assert CLOSED_AFTER_AT_LEAST < seconds_until_closed(sock) < CLOSED_WITHIN
    assert httpx.get(f"{service.url}/health").status_code == 200


def test_a_kept_alive_connection_is_timed_per_head_not_while_idle(service: Service) -> None:
    with connect(service) as sock:
        # Pauses longer than the header timeout, shorter than uvicorn's keep-alive timeout (5 s).
        for _ in range(3):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, _ = read_response(sock)
            assert status == 200
            assert headers.get("connection") != "close"
            time.sleep(HEADER_TIMEOUT * 1.5)
        # The next head's clock starts at its first byte; without it, this would be held forever
        # (any byte from the client stops uvicorn's keep-alive clock).
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        assert CLOSED_AFTER_AT_LEAST < seconds_until_closed(sock) < CLOSED_WITHIN


def test_a_slow_body_is_not_cut_by_the_header_timeout(service: Service) -> None:
    body = b'{"title": "sent slowly"}'
    with connect(service) as sock:
        sock.sendall(
            b"POST /api/alice/tasks HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + make_token("alice").encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        time.sleep(HEADER_TIMEOUT * 2)
        sock.sendall(body)
        status, _, answer = read_response(sock)
    assert status == 201, answer


def test_a_head_split_across_reads_is_served_and_its_clock_stops_once_complete(
    service: Service,
) -> None:
    with connect(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
        for part in (b"GET /hea", b"lth HTTP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(HEADER_TIMEOUT / 5)
        assert read_response(sock)[0] == 200
        time.sleep(HEADER_TIMEOUT * 1.5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
