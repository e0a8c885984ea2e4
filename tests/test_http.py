"""The HTTP surface beyond the task rules: errors of the framework, request ids, CORS, health."""

import logging

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SECRET, Api, auth, make_token
from todo_api.app import create_app
from todo_api.core.settings import Settings


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/nope", headers=auth())
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "error_code": "NOT_FOUND"}


def test_wrong_method_is_405_in_the_error_shape(client: TestClient) -> None:
    response = client.post("/api/alice/tasks/1", headers=auth(), json={"title": "x"})
    assert response.status_code == 405
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert "allow" in response.headers


def test_request_id_is_generated_and_returned(client: TestClient) -> None:
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]
    assert first and second and first != second


def test_request_id_from_the_client_is_kept_when_safe(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith junk"})
    assert unsafe.headers["x-request-id"] != "bad id\twith junk"


def test_answers_are_not_cached_or_sniffed(client: TestClient) -> None:
    response = client.get("/api/alice/tasks", headers=auth())
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}


def test_ready_is_503_when_the_database_is_unreachable() -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        better_auth_secret=SECRET,
        db_connect_timeout_seconds=1,
        # Retried for half a second, not the default 10 s: the answer is the same 503.
        db_connect_retry_seconds=0.5,
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["error_code"] == "DATABASE_UNAVAILABLE"
        tasks = client.get("/api/alice/tasks", headers=auth())
        assert tasks.status_code == 503
        assert "127.0.0.1" not in tasks.text and "psycopg" not in tasks.text.lower()


def test_unexpected_errors_are_a_generic_500_with_details_only_in_the_log(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py")

    with TestClient(app) as client, caplog.at_level(logging.ERROR):
        response = client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "error_code": "INTERNAL_ERROR"}
    assert response.headers["x-request-id"] == "req-500"
    record = next(r for r in caplog.records if r.exc_info)
    assert record.exc_info is not None
    assert "secret internals" in str(record.exc_info[1])
    assert record.request_id == "req-500"  # type: ignore[attr-defined]


ORIGIN = "http://localhost:3000"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_cors_preflight_from_an_allowed_origin(client: TestClient, method: str) -> None:
    response = client.options(
        "/api/alice/tasks/1",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["x-request-id"]
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert method in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_cors_lets_a_browser_send_an_idempotency_key(client: TestClient) -> None:
    response = client.options(
        "/api/alice/tasks",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()


def test_cors_does_not_echo_other_origins(client: TestClient) -> None:
    preflight = client.options(
        "/api/alice/tasks",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 403
    assert preflight.json() == {
        "detail": "CORS preflight refused: origin not allowed",
        "error_code": "CORS_REFUSED",
    }
    assert preflight.headers["x-request-id"]
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/api/alice/tasks", headers={**auth(), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_headers_are_on_error_answers_too(client: TestClient) -> None:
    response = client.get("/api/alice/tasks", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_a_browser_mcp_client_passes_the_preflight_and_reads_www_authenticate(
    client: TestClient,
) -> None:
    preflight = client.options(
        "/mcp",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert "mcp-protocol-version" in preflight.headers["access-control-allow-headers"].lower()
    refused = client.post("/mcp", headers={"Origin": ORIGIN}, json={})
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()


def test_logs_carry_request_id_and_never_the_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token("alice")
    bad = make_token("alice", secret="another-secret-that-is-long-enough-0000")
    with caplog.at_level(logging.DEBUG):
        api.client.post(
            "/api/alice/tasks",
            json={"title": "x"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-log"},
        )
        api.client.get("/api/alice/tasks", headers={"Authorization": f"Bearer {bad}"})
    lines = [record.getMessage() for record in caplog.records]
    assert any(
        "method=POST route=/api/{user_id}/tasks status=201" in line and "user_id=alice" in line
        for line in lines
    )
    assert any(getattr(r, "request_id", None) == "req-log" for r in caplog.records)
    text = "\n".join(lines) + caplog.text
    for secret in (token, bad, SECRET, token.split(".")[2]):
        assert secret not in text


def test_a_refused_preflight_says_what_was_refused(client: TestClient) -> None:
    response = client.options(
        "/api/alice/tasks",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, x-secret-header",
        },
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == "CORS preflight refused: headers not allowed"


@pytest.mark.parametrize(
    "path",
    [
        "/api/alice/tasks/",
        "/api/alice/tasks/1/",
        "//api/alice/tasks",
        "/api//alice/tasks",
        "/health/",
    ],
)
def test_the_service_never_redirects(client: TestClient, path: str) -> None:
    response = client.get(path, headers={**auth(), "Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    assert "location" not in response.headers
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/api/alice/tasks"])
def test_head_is_answered_like_get_without_a_body(api: Api, path: str) -> None:
    api.create()
    get = api.client.get(path, headers=auth())
    head = api.client.head(path, headers=auth())
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["x-request-id"]


def test_head_needs_a_token_where_get_does(client: TestClient) -> None:
    response = client.head("/api/alice/tasks")
    assert response.status_code == 401
    assert response.content == b""


def test_an_unexpected_error_can_be_read_by_a_browser(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"Origin": ORIGIN})
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["x-request-id"]
