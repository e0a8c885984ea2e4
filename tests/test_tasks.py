"""The task endpoints of SPEC.md: every operation, the owner's isolation, and the data rules."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, auth
from todo_api.tasks.schemas import TaskPublic

# In the order every answer gives them: the one definition of what a client sees.
FIELDS = tuple(TaskPublic.model_fields)
# The fields of the contract's v1: a v1 client keeps seeing each of them, as it did.
V1_FIELDS = ("id", "user_id", "title", "description", "completed", "created_at", "updated_at")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


def test_list_is_empty_at_first(client: TestClient) -> None:
    response = client.get("/api/alice/tasks", headers=auth("alice"))
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["content-type"] == "application/json"


def test_create_returns_the_stored_task(api: Api) -> None:
    response = api.client.post(
        "/api/alice/tasks",
        json={"title": "  Buy milk  ", "description": "two litres"},
        headers=auth("alice"),
    )
    assert response.status_code == 201
    task = response.json()
    assert set(task) == set(FIELDS)
    assert task["title"] == "Buy milk"
    assert task["description"] == "two litres"
    assert task["completed"] is False
    assert task["user_id"] == "alice"
    assert isinstance(task["id"], int)
    assert parse_time(task["created_at"]) == parse_time(task["updated_at"])
    [row] = api.rows()
    assert row["id"] == task["id"] and row["title"] == "Buy milk" and row["user_id"] == "alice"


def test_create_ignores_owner_and_id_sent_in_the_body(api: Api) -> None:
    response = api.client.post(
        "/api/alice/tasks",
        json={
            "title": "mine",
            "user_id": "mallory",
            "id": 999,
            "created_at": "2000-01-01T00:00:00+00:00",
        },
        headers=auth("alice"),
    )
    assert response.status_code == 201
    task = response.json()
    assert task["user_id"] == "alice"
    assert task["id"] != 999
    assert task["completed"] is False
    assert parse_time(task["created_at"]).year > 2000


def test_a_task_read_can_be_sent_back_as_it_is(api: Api) -> None:
    """Every read-only field of a task as answered is accepted and ignored, on create, PUT and
    PATCH: a client may send back the object it read."""
    read = api.create(title="first", due_date="2026-12-08", recurrence="FREQ=DAILY")
    copy = api.client.post("/api/alice/tasks", json=read | {"title": "copy"}, headers=auth())
    assert copy.status_code == 201, copy.text
    assert copy.json()["id"] != read["id"] and copy.json()["version"] == 1
    for method in ("PUT", "PATCH"):
        sent = read | {"title": method, "version": 99, "next_task_id": 5}
        answer = api.client.request(
            method, f"/api/alice/tasks/{read['id']}", json=sent, headers=auth()
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["title"] == method and answer.json()["next_task_id"] is None


def test_completed_is_honoured_on_create(api: Api) -> None:
    done = api.create(title="done already", completed=True)
    assert done["completed"] is True
    assert parse_time(done["completed_at"]) == parse_time(done["created_at"])
    pending = api.create(title="pending", completed=False)
    assert pending["completed"] is False and pending["completed_at"] is None
    assert [row["completed"] in (True, 1) for row in api.rows()] == [True, False]


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_completed_is_validated_alike_on_create_put_and_patch(api: Api, value: object) -> None:
    task = api.create(title="kept")
    answers = [
        api.client.post(
            "/api/alice/tasks", json={"title": "x", "completed": value}, headers=auth()
        ),
        api.client.put(
            f"/api/alice/tasks/{task['id']}",
            json={"title": "x", "completed": value},
            headers=auth(),
        ),
        api.client.patch(
            f"/api/alice/tasks/{task['id']}", json={"completed": value}, headers=auth()
        ),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert list(answer.json()["field_errors"]) == ["completed"]
    assert [(row["title"], row["version"]) for row in api.rows()] == [("kept", 1)]


def test_description_is_optional_and_may_be_empty(api: Api) -> None:
    assert api.create(title="a")["description"] is None
    assert api.create(title="b", description="")["description"] == ""


def test_list_returns_own_tasks_in_creation_order(api: Api) -> None:
    first = api.create("alice", "first")
    second = api.create("alice", "second")
    api.create("bob", "bob's")
    response = api.client.get("/api/alice/tasks", headers=auth("alice"))
    assert [task["id"] for task in response.json()] == [first["id"], second["id"]]


def test_get_one(api: Api) -> None:
    task = api.create()
    response = api.client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice"))
    assert response.status_code == 200
    assert response.json() == task


def test_put_replaces_fields_and_moves_updated_at(api: Api) -> None:
    task = api.create(description="old")
    response = api.client.put(
        f"/api/alice/tasks/{task['id']}",
        json={"title": "new title", "description": None, "completed": True},
        headers=auth("alice"),
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "new title"
    assert updated["description"] is None
    assert updated["completed"] is True
    assert updated["created_at"] == task["created_at"]
    assert parse_time(updated["updated_at"]) > parse_time(task["updated_at"])
    assert api.rows()[0]["title"] == "new title"


def test_put_keeps_fields_it_leaves_out(api: Api) -> None:
    task = api.create(description="keep me")
    api.client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=auth("alice"))
    response = api.client.put(
        f"/api/alice/tasks/{task['id']}", json={"title": "renamed"}, headers=auth("alice")
    )
    assert response.status_code == 200
    assert response.json()["description"] == "keep me"
    assert response.json()["completed"] is True


def test_put_with_null_completed_is_rejected(api: Api) -> None:
    task = api.create()
    response = api.client.put(
        f"/api/alice/tasks/{task['id']}",
        json={"title": "x", "completed": None},
        headers=auth("alice"),
    )
    assert response.status_code == 422
    assert "completed" in response.json()["field_errors"]
    assert api.rows()[0]["title"] == task["title"]


def test_toggle_flips_completed_both_ways(api: Api) -> None:
    task = api.create()
    url = f"/api/alice/tasks/{task['id']}/complete"
    first = api.client.patch(url, headers=auth("alice"))
    assert first.status_code == 200
    assert first.json()["completed"] is True
    assert parse_time(first.json()["updated_at"]) > parse_time(task["updated_at"])
    second = api.client.patch(url, headers=auth("alice"))
    assert second.json()["completed"] is False


def test_delete_is_permanent(api: Api) -> None:
    task = api.create()
    url = f"/api/alice/tasks/{task['id']}"
    response = api.client.delete(url, headers=auth("alice"))
    assert response.status_code == 204
    assert response.content == b""
    assert api.rows() == []
    assert api.client.get(url, headers=auth("alice")).status_code == 404
    assert api.client.delete(url, headers=auth("alice")).status_code == 404


def test_deleted_ids_are_not_reused(api: Api) -> None:
    task = api.create()
    api.client.delete(f"/api/alice/tasks/{task['id']}", headers=auth("alice"))
    assert api.create()["id"] > task["id"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"title": "stolen"}),
        ("DELETE", "", None),
        ("PATCH", "/complete", None),
    ],
)
def test_another_users_task_is_not_found_and_untouched(
    api: Api, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    task = api.create("alice", "private")
    response = api.client.request(
        method, f"/api/bob/tasks/{task['id']}{suffix}", json=body, headers=auth("bob")
    )
    missing = api.client.request(
        method, f"/api/bob/tasks/{task['id'] + 1000}{suffix}", json=body, headers=auth("bob")
    )
    assert response.status_code == missing.status_code == 404
    assert (
        response.json()
        == missing.json()
        == {
            "detail": "Task not found",
            "error_code": "TASK_NOT_FOUND",
        }
    )
    [row] = api.rows()
    assert row["title"] == "private" and row["completed"] in (False, 0)


def test_other_users_path_is_forbidden(api: Api) -> None:
    api.create("alice")
    for method, path in [
        ("GET", "/api/alice/tasks"),
        ("POST", "/api/alice/tasks"),
        ("GET", "/api/alice/tasks/1"),
        ("PUT", "/api/alice/tasks/1"),
        ("DELETE", "/api/alice/tasks/1"),
        ("PATCH", "/api/alice/tasks/1/complete"),
    ]:
        response = api.client.request(method, path, json={"title": "x"}, headers=auth("bob"))
        assert response.status_code == 403, (method, path)
        assert response.json()["error_code"] == "FORBIDDEN"
    assert len(api.rows()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Emoji 👩‍👩‍👧‍👦 🎉",
        "עברית וערבית: مرحبا",
        "e\u0301 combining  a\u0308",
        "\u200f RTL mark and zero\u200bwidth",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP",
        'JSON\'s own: "quotes", back\\slash, /slash, new\nline, tab\t, bell\x07, unit\x1fsep',
    ],
)
def test_text_round_trips_exactly(api: Api, text: str) -> None:
    task = api.create(title=text, description=text * 3)
    fetched = api.client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice")).json()
    assert fetched["title"] == text.strip()
    assert fetched["description"] == text * 3


def test_title_length_counts_characters_not_bytes(api: Api) -> None:
    assert api.create(title="é" * 200)["title"] == "é" * 200
    assert api.create(title="🎉" * 200)["title"] == "🎉" * 200
    assert api.create(description="🎉" * 1000)["description"] == "🎉" * 1000


def test_every_answer_shows_a_task_the_same_way(api: Api) -> None:
    """The database writes the JSON (task_json.py): the same fields, order and formats on both
    databases and from every endpoint, timestamps in UTC with six fractional digits, `completed`
    a boolean."""
    before = datetime.now(UTC)
    created = api.create(description=None)
    after = datetime.now(UTC)
    path = f"/api/alice/tasks/{created['id']}"
    toggled = api.client.patch(f"{path}/complete", headers=auth("alice")).json()
    got = api.client.get(path, headers=auth("alice"))
    listed = api.client.get("/api/alice/tasks", headers=auth("alice")).json()
    assert listed == [got.json()] and got.json() == toggled
    assert list(toggled) == list(FIELDS)
    assert list(FIELDS)[: len(V1_FIELDS)] == list(V1_FIELDS)
    for answer in (created, toggled):
        TaskPublic.model_validate_json(json.dumps(answer), strict=True)
    assert toggled["completed"] is True and created["completed"] is False
    assert toggled["description"] is None
    assert created["completed_at"] is None
    for field in ("created_at", "updated_at", "completed_at"):
        assert TIMESTAMP.fullmatch(toggled[field]), toggled[field]
    assert before <= parse_time(created["created_at"]) <= after
    assert parse_time(toggled["updated_at"]) >= parse_time(created["updated_at"])


def test_timestamps_are_utc_with_offset(api: Api) -> None:
    task = api.create()
    assert task["created_at"].endswith("+00:00")
    listed = api.client.get("/api/alice/tasks", headers=auth("alice")).json()
    assert listed[0]["created_at"] == task["created_at"]
