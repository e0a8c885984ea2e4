"""GET /metrics: off by default, guarded by its token, counting by route template."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import auth
from todo_api.app import create_app
from todo_api.core.settings import Settings


@pytest.fixture
def metrics_client(settings: Settings) -> Iterator[TestClient]:
    enabled = settings.model_copy(update={"metrics_enabled": True})
    with TestClient(create_app(enabled)) as client:
        yield client


def sample(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert lines, f"no sample {prefix!r}"
    return float(lines[0].rsplit(" ", 1)[1])


def test_metrics_are_off_by_default(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_requests_are_counted_by_route_template_and_status(metrics_client: TestClient) -> None:
    label = 'todo_api_requests_total{method="GET",route="/api/{user_id}/tasks",status="200"}'
    before = metrics_client.get("/metrics").text
    start = sample(before, label) if label in before else 0.0
    for user in ("alice", "bob", "carol"):
        metrics_client.get(f"/api/{user}/tasks", headers=auth(user))
    metrics_client.get("/no/such/path")
    text = metrics_client.get("/metrics").text
    assert sample(text, label) == start + 3
    assert 'route="unmatched",status="404"' in text
    assert "alice" not in text and "bob" not in text
    assert 'todo_api_request_duration_seconds_bucket{le="0.2",method="GET"' in text
    assert "todo_api_db_connections_in_use" in text
    assert "todo_api_db_connections_waiting" in text


def test_metrics_token_is_required_when_set(settings: Settings) -> None:
    guarded = settings.model_copy(
        update={"metrics_enabled": True, "metrics_token": SecretStr("scrape-token-0123456789")}
    )
    with TestClient(create_app(guarded)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error_code"] == "INVALID_TOKEN"
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert right.status_code == 200
        assert right.headers["content-type"].startswith("text/plain")
