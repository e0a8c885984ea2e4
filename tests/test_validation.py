"""Bad input: always a 4xx in the one error shape, and nothing stored is changed."""

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


def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    response = api.client.post(
        "/api/alice/tasks",
        content=b"title=x",
        headers={**auth("alice"), "Content-Type": "text/plain"},
    )
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert api.rows() == []


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
