"""Bad input: always a 4xx in the one error shape, and nothing stored is changed."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api, auth


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert "x-request-id" in response.headers
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   \t\n "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 42}, "title"),
        ({"title": None}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "ok", "description": "d" * 1001}, "description"),
        ({"title": "ok", "description": 7}, "description"),
        ({"title": "nul \x00 inside"}, "title"),
        ({"title": "ok", "description": "nul \x00"}, "description"),
    ],
)
def test_invalid_create_bodies(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert list(error["field_errors"]) == [field]
    assert all(isinstance(m, str) for m in error["field_errors"][field])
    assert api.rows() == []


@pytest.mark.parametrize(
    ("body", "unknown", "hint"),
    [
        ({"title": "x", "dueDate": "2026-12-08"}, ["dueDate"], "due_date"),
        ({"title": "x", "tz": "Europe/Berlin"}, ["tz"], "timezone"),
        ({"title": "x", "isCompleted": True, "Priority": "high"}, ["isCompleted", "Priority"], ""),
        ({"title": "x", "list": "Work"}, ["list"], ""),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_an_unknown_body_field_is_a_422_naming_it(
    api: Api, method: str, body: dict[str, Any], unknown: list[str], hint: str
) -> None:
    """Dropped in silence, a misspelt field would leave the client believing it was saved."""
    task = api.create(title="kept")
    path = "/api/alice/tasks" + ("" if method == "POST" else f"/{task['id']}")
    response = api.client.request(method, path, json=body, headers=auth("alice"))
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert sorted(error["field_errors"]) == sorted(unknown)
    assert hint in error["field_errors"][unknown[0]][0]
    assert [(row["title"], row["version"]) for row in api.rows()] == [("kept", 1)]


def test_an_unknown_field_in_a_tag_rename_is_a_422(api: Api) -> None:
    api.create(title="kept", tags=["work"])
    response = api.client.patch(
        "/api/alice/tags/work", json={"name": "office", "color": "red"}, headers=auth("alice")
    )
    assert list(assert_error(response, 422, "VALIDATION_ERROR")["field_errors"]) == ["color"]
    assert api.rows()[0]["tags"] in (["work"], '["work"]')


def test_title_of_exactly_200_after_trimming_is_accepted(api: Api) -> None:
    assert api.create(title=f"  {'x' * 200}  ")["title"] == "x" * 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"title": "unterminated', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"null", "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe garbage", "application/json"),
    ],
)
def test_malformed_json(api: Api, content: bytes, content_type: str) -> None:
    response = api.client.post(
        "/api/alice/tasks",
        content=content,
        headers={**auth("alice"), "Content-Type": content_type},
    )
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert "body" in error["field_errors"]
    assert api.rows() == []


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain;charset=UTF-8",  # what fetch() sends for a string body
        "application/x-www-form-urlencoded",  # what curl -d sends
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
        None,  # no Content-Type at all
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_body_that_is_not_json_is_a_415(api: Api, content_type: str | None, method: str) -> None:
    task = api.create(title="kept")
    path = "/api/alice/tasks" + ("" if method == "POST" else f"/{task['id']}")
    headers = auth("alice") | ({"Content-Type": content_type} if content_type else {})
    response = api.client.request(method, path, content=b'{"title": "x"}', headers=headers)
    error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "application/json" in error["detail"]
    assert [row["title"] for row in api.rows()] == ["kept"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
    ],
)
def test_json_bodies_are_taken_whatever_their_json_content_type(
    api: Api, content_type: str
) -> None:
    headers = auth("alice") | {"Content-Type": content_type}
    response = api.client.post("/api/alice/tasks", content=b'{"title": "x"}', headers=headers)
    assert response.status_code == 201


def test_the_415_comes_after_401_403_and_413(api: Api) -> None:
    text = {"Content-Type": "text/plain"}
    assert api.client.post("/api/alice/tasks", content=b"x", headers=text).status_code == 401
    forbidden = api.client.post("/api/bob/tasks", content=b"x", headers=auth("alice") | text)
    assert forbidden.status_code == 403
    huge = api.client.post("/api/alice/tasks", content=b"x" * 70_000, headers=auth() | text)
    assert huge.status_code == 413


def test_invalid_update_leaves_the_task_as_it_was(api: Api) -> None:
    task = api.create(title="original", description="kept")
    for body in ({"title": ""}, {"title": "x", "completed": "yes"}, {"description": "no title"}):
        response = api.client.put(
            f"/api/alice/tasks/{task['id']}", json=body, headers=auth("alice")
        )
        assert_error(response, 422, "VALIDATION_ERROR")
    [row] = api.rows()
    assert (row["title"], row["description"]) == ("original", "kept")


@pytest.mark.parametrize(
    "task_id",
    ["abc", "1.5", "9223372036854775808", "99999999999999999999999999", "-9223372036854775809"],
)
def test_task_ids_that_are_not_64_bit_integers(api: Api, task_id: str) -> None:
    response = api.client.get(f"/api/alice/tasks/{task_id}", headers=auth("alice"))
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert "task_id" in error["field_errors"]


@pytest.mark.parametrize("task_id", ["9223372036854775807", "-9223372036854775808", "0", "-1"])
def test_task_ids_at_the_edges_of_64_bits_are_simply_not_found(api: Api, task_id: str) -> None:
    for method in ("GET", "DELETE", "PATCH"):
        suffix = "/complete" if method == "PATCH" else ""
        response = api.client.request(
            method, f"/api/alice/tasks/{task_id}{suffix}", headers=auth("alice")
        )
        assert_error(response, 404, "TASK_NOT_FOUND")


def test_a_300_character_user_id(api: Api) -> None:
    long_id = "u" * 300
    # Its token is refused (no user id is that long) ...
    response = api.client.get(f"/api/{long_id}/tasks", headers=auth(long_id))
    assert_error(response, 401, "INVALID_TOKEN")
    # ... and another user's token is not that user's.
    response = api.client.get(f"/api/{long_id}/tasks", headers=auth("alice"))
    assert_error(response, 403, "FORBIDDEN")


def test_a_user_id_of_exactly_255_characters_works(api: Api) -> None:
    user_id = "u" * 255
    task = api.create(user_id)
    assert task["user_id"] == user_id


def test_a_1_mb_body_is_refused(api: Api) -> None:
    response = api.client.post(
        "/api/alice/tasks",
        content=b'{"title": "' + b"x" * 1_000_000 + b'"}',
        headers={**auth("alice"), "Content-Type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert api.rows() == []


def test_a_large_body_without_declared_length_is_refused(api: Api) -> None:
    def chunks() -> Any:
        yield b'{"title": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    response = api.client.post(
        "/api/alice/tasks",
        content=chunks(),
        headers={**auth("alice"), "Content-Type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert api.rows() == []


def test_deeply_nested_json_is_a_422(api: Api) -> None:
    body = b'{"title": "x", "description": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = api.client.post(
        "/api/alice/tasks",
        content=body,
        headers={**auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["field_errors"] == {"body": ["Body could not be parsed as JSON"]}
    assert api.rows() == []


@pytest.mark.parametrize(
    "spell",
    [
        lambda n: f"{n[0]}_{n[1:]}",
        lambda n: f"+{n}",
        lambda n: f"0{n}",
        lambda n: f"%20{n}",
        lambda n: f"{n}%20",
        lambda n: f"%0A{n}",
        lambda n: f"{n}.0",
        lambda n: f"%2B{n}",
        lambda n: f"{n}%00",
    ],
)
def test_a_task_id_has_one_spelling(api: Api, spell: Callable[[str], str]) -> None:
    task_id = str(api.create()["id"])
    while len(task_id) < 2:
        task_id = str(api.create()["id"])
    spelling = spell(task_id)
    assert api.client.get(f"/api/alice/tasks/{task_id}", headers=auth()).status_code == 200
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("PATCH", "/complete")):
        response = api.client.request(
            method,
            f"/api/alice/tasks/{spelling}{suffix}",
            headers=auth("alice"),
            json={"title": "changed"} if method == "PUT" else None,
        )
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert list(error["field_errors"]) == ["task_id"], spelling
    rows = api.rows()
    assert "changed" not in [row["title"] for row in rows]
    assert not any(row["completed"] for row in rows)
    assert task_id in [str(row["id"]) for row in rows]


@pytest.mark.parametrize("value", ["false", 0, None, [True]])
def test_a_field_error_names_the_clients_field(api: Api, value: object) -> None:
    task = api.create()
    response = api.client.put(
        f"/api/alice/tasks/{task['id']}",
        json={"title": "x", "completed": value},
        headers=auth("alice"),
    )
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert list(error["field_errors"]) == ["completed"]
    assert len(error["field_errors"]["completed"]) == 1
