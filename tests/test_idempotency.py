"""Nothing doubled: Idempotency-Key on create, atomic toggles, and the per-user task limit."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import Api, auth
from todo_api.app import create_app
from todo_api.core.settings import Settings


def post(api: Api, key: str | None, body: dict[str, Any], user: str = "alice") -> Any:
    headers = auth(user) | ({"Idempotency-Key": key} if key is not None else {})
    return api.client.post(f"/api/{user}/tasks", json=body, headers=headers)


def key_rows(api: Api) -> list[dict[str, Any]]:
    with api.engine.connect() as connection:
        result = connection.execute(text("SELECT * FROM idempotency_keys ORDER BY user_id"))
        return [dict(row) for row in result.mappings()]


def test_a_retried_create_returns_the_first_answer(api: Api) -> None:
    first = post(api, "key-1", {"title": "Pay rent"})
    again = post(api, "key-1", {"title": "Pay rent"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(api.rows()) == 1


def test_the_same_request_spelled_differently_is_still_the_same(api: Api) -> None:
    first = post(api, "key-1", {"title": "  Pay rent ", "description": None})
    again = api.client.post(
        "/api/alice/tasks",
        content=b'{"description":null,"title":"Pay rent"}',
        headers=auth("alice") | {"Idempotency-Key": "key-1", "Content-Type": "application/json"},
    )
    assert again.json() == first.json()
    assert len(api.rows()) == 1


def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    post(api, "key-1", {"title": "Pay rent"})
    response = post(api, "key-1", {"title": "Pay rent twice"})
    assert response.status_code == 422
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "Idempotency-Key" in response.json()["field_errors"]
    assert [row["title"] for row in api.rows()] == ["Pay rent"]


def test_keys_belong_to_one_user(api: Api) -> None:
    alice = post(api, "shared-key", {"title": "Mine"}, user="alice")
    bob = post(api, "shared-key", {"title": "Mine"}, user="bob")
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["id"] != bob.json()["id"]
    assert bob.json()["user_id"] == "bob"


def test_without_a_key_every_post_creates(api: Api) -> None:
    post(api, None, {"title": "x"})
    post(api, None, {"title": "x"})
    assert len(api.rows()) == 2


def test_an_expired_key_creates_anew(api: Api) -> None:
    first = post(api, "old-key", {"title": "Water plants"})
    with api.engine.begin() as connection:
        connection.execute(
            text("UPDATE idempotency_keys SET created_at = :old"),
            {"old": "2000-01-01 00:00:00+00:00"},
        )
    again = post(api, "old-key", {"title": "Water plants"})
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in again.headers
    assert len(key_rows(api)) == 1


def test_the_answer_is_replayed_even_after_the_task_is_deleted(api: Api) -> None:
    first = post(api, "key-1", {"title": "Short-lived"})
    api.client.delete(f"/api/alice/tasks/{first.json()['id']}", headers=auth("alice"))
    again = post(api, "key-1", {"title": "Short-lived"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert api.rows() == []


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "ünïcode"])
def test_malformed_keys_are_refused(api: Api, key: str) -> None:
    headers = [
        (b"authorization", auth("alice")["Authorization"].encode()),
        (b"idempotency-key", key.encode()),
    ]
    response = api.client.post("/api/alice/tasks", json={"title": "x"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert api.rows() == []


def test_concurrent_retries_create_one_task(api: Api) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post(api, "race", {"title": "Once"}), range(16)))
    assert {response.status_code for response in responses} == {201}, [
        r.text for r in responses if r.status_code != 201
    ]
    assert len({response.json()["id"] for response in responses}) == 1
    assert len(api.rows()) == 1


def test_concurrent_toggles_lose_nothing(api: Api) -> None:
    task = api.create()
    url = f"/api/alice/tasks/{task['id']}/complete"
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(lambda _: api.client.patch(url, headers=auth("alice")), range(20))
        )
    assert {response.status_code for response in responses} == {200}
    # An even number of flips ends where it started; each answer saw a distinct state change.
    assert api.rows()[0]["completed"] in (False, 0)
    assert sum(response.json()["completed"] for response in responses) == 10


def test_the_task_limit_is_a_clear_409_and_stores_nothing_more(
    api: Api, settings: Settings
) -> None:
    limited = settings.model_copy(update={"max_tasks_per_user": 3})
    with TestClient(create_app(limited)) as client:
        statuses = [
            client.post(
                "/api/alice/tasks", json={"title": f"t{i}"}, headers=auth("alice")
            ).status_code
            for i in range(4)
        ]
        assert statuses == [201, 201, 201, 409]
        refused = client.post("/api/alice/tasks", json={"title": "more"}, headers=auth("alice"))
        assert refused.json()["error_code"] == "TASK_LIMIT_REACHED"
        # Other users are not affected, and deleting one makes room again.
        assert (
            client.post("/api/bob/tasks", json={"title": "b"}, headers=auth("bob")).status_code
            == 201
        )
        first = api.rows()[0]["id"]
        client.delete(f"/api/alice/tasks/{first}", headers=auth("alice"))
        again = client.post("/api/alice/tasks", json={"title": "again"}, headers=auth("alice"))
        assert again.status_code == 201
    assert len([row for row in api.rows() if row["user_id"] == "alice"]) == 3


def test_a_refused_create_leaves_its_key_unused(api: Api, settings: Settings) -> None:
    limited = settings.model_copy(update={"max_tasks_per_user": 1})
    with TestClient(create_app(limited)) as client:
        headers = auth("alice")
        assert (
            client.post("/api/alice/tasks", json={"title": "a"}, headers=headers).status_code == 201
        )
        refused = client.post(
            "/api/alice/tasks", json={"title": "b"}, headers=headers | {"Idempotency-Key": "k"}
        )
        assert refused.status_code == 409
        # The key's claim was rolled back with the create: nothing remembers the refusal.
        assert key_rows(api) == []
        client.delete(f"/api/alice/tasks/{api.rows()[0]['id']}", headers=headers)
        retried = client.post(
            "/api/alice/tasks", json={"title": "b"}, headers=headers | {"Idempotency-Key": "k"}
        )
        assert retried.status_code == 201


@pytest.mark.parametrize("with_keys", [False, True], ids=["plain", "idempotency-keys"])
def test_the_task_limit_holds_under_concurrent_creates(
    api: Api, settings: Settings, with_keys: bool
) -> None:
    """50 parallel creates against room for 5 store exactly 5, and answer 5 times 201."""
    limited = settings.model_copy(update={"max_tasks_per_user": 5})
    with TestClient(create_app(limited)) as client:
        api.create("alice", "already there")

        def create(n: int) -> int:
            headers = auth("alice") | ({"Idempotency-Key": f"k{n}"} if with_keys else {})
            response = client.post("/api/alice/tasks", json={"title": f"t{n}"}, headers=headers)
            return int(response.status_code)

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(create, range(50)))
    assert sorted(statuses) == [201] * 4 + [409] * 46
    assert len(api.rows()) == 5
