"""Conditional requests: ETags, If-Match on every write, If-None-Match on reads, on both
databases."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import Api, auth

ORIGIN = "http://localhost:3000"


def path(task: dict[str, Any]) -> str:
    return f"/api/alice/tasks/{task['id']}"


def test_every_answer_with_one_task_carries_its_version_as_etag(api: Api) -> None:
    created = api.client.post("/api/alice/tasks", json={"title": "a"}, headers=auth())
    assert created.headers["etag"] == '"1"' and created.json()["version"] == 1
    task = created.json()
    got = api.client.get(path(task), headers=auth())
    assert got.headers["etag"] == '"1"'
    put = api.client.put(path(task), json={"title": "b"}, headers=auth())
    patched = api.client.patch(path(task), json={"description": "d"}, headers=auth())
    toggled = api.client.patch(path(task) + "/complete", headers=auth())
    for answer, version in ((put, 2), (patched, 3), (toggled, 4)):
        assert answer.status_code == 200
        assert answer.json()["version"] == version
        assert answer.headers["etag"] == f'"{version}"'


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        ('"1"', 200),
        ("*", 200),
        ('"7", "1"', 200),
        ('"2"', 412),
        ('W/"1"', 412),
        ('"01"', 412),
        ('"99999999999999999999"', 412),
        ("1", 400),
        ("garbage", 400),
        ('"1', 400),
        ('"1" "2"', 400),
        ("W/1", 400),
        ('*, "1"', 400),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "toggle", "DELETE"])
def test_if_match_guards_every_write(api: Api, method: str, if_match: str, expected: int) -> None:
    task = api.create()
    url = path(task) + ("/complete" if method == "toggle" else "")
    body = {"title": "changed"} if method in ("PUT", "PATCH") else None
    answer = api.client.request(
        "PATCH" if method == "toggle" else method,
        url,
        json=body,
        headers=auth() | {"If-Match": if_match},
    )
    assert answer.status_code == (204 if method == "DELETE" and expected == 200 else expected)
    rows = api.rows()
    if expected in (400, 412):
        # Not an entity tag (`1` for `"1"`) is the client's mistake, said as such: a 412 would
        # claim the task changed, and a client that re-reads and retries would loop forever.
        error = answer.json()
        assert error["error_code"] == ("BAD_REQUEST" if expected == 400 else "PRECONDITION_FAILED")
        if expected == 400:
            assert error["detail"].startswith("If-Match must be")
        assert [(row["title"], row["version"]) for row in rows] == [("Buy milk", 1)]
        assert rows[0]["completed"] in (False, 0)


def test_a_missing_task_is_404_even_with_if_match(api: Api) -> None:
    task = api.create()
    api.client.delete(path(task), headers=auth())
    answer = api.client.put(path(task), json={"title": "x"}, headers=auth() | {"If-Match": '"1"'})
    assert answer.status_code == 404
    other = api.create("bob")
    answer = api.client.patch(
        f"/api/alice/tasks/{other['id']}", json={"title": "x"}, headers=auth() | {"If-Match": "*"}
    )
    assert answer.status_code == 404


def test_of_two_writers_holding_the_same_etag_exactly_one_succeeds(api: Api) -> None:
    def write(task: dict[str, Any], writer: int) -> int:
        etag = f'"{task["version"]}"'
        answer = api.client.patch(
            path(task), json={"title": f"writer {writer}"}, headers=auth() | {"If-Match": etag}
        )
        return int(answer.status_code)

    for _ in range(5):
        task = api.create()
        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = sorted(pool.map(write, [task, task], [1, 2]))
        assert statuses == [200, 412]
        assert api.client.get(path(task), headers=auth()).json()["version"] == 2


@pytest.mark.parametrize("where", ["task", "list", "page"])
def test_an_if_none_match_that_is_not_entity_tags_is_a_400(api: Api, where: str) -> None:
    task = api.create()
    url = {"task": path(task), "list": "/api/alice/tasks", "page": "/api/alice/tasks?limit=1"}
    answer = api.client.get(url[where], headers=auth() | {"If-None-Match": "1"})
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert "If-None-Match" in answer.json()["detail"]


def test_if_none_match_on_a_task(api: Api) -> None:
    task = api.create()
    unchanged = api.client.get(path(task), headers=auth() | {"If-None-Match": '"1"'})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == '"1"'
    assert (
        api.client.get(path(task), headers=auth() | {"If-None-Match": 'W/"1"'}).status_code == 304
    )
    assert api.client.get(path(task), headers=auth() | {"If-None-Match": "*"}).status_code == 304
    api.client.patch(path(task) + "/complete", headers=auth())
    changed = api.client.get(path(task), headers=auth() | {"If-None-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'


def test_if_none_match_on_the_list(api: Api) -> None:
    api.create()
    first = api.client.get("/api/alice/tasks", headers=auth())
    etag = first.headers["etag"]
    again = api.client.get("/api/alice/tasks", headers=auth() | {"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    task = api.create(title="second")
    after_create = api.client.get("/api/alice/tasks", headers=auth() | {"If-None-Match": etag})
    assert after_create.status_code == 200 and after_create.headers["etag"] != etag
    etag = after_create.headers["etag"]
    api.client.patch(path(task), json={"description": "changed"}, headers=auth())
    after_change = api.client.get("/api/alice/tasks", headers=auth() | {"If-None-Match": etag})
    assert after_change.status_code == 200
    # Another user's list is another list.
    assert api.client.get("/api/bob/tasks", headers=auth("bob")).headers["etag"] != etag


def test_a_replayed_create_carries_the_created_tasks_etag(api: Api) -> None:
    headers = auth() | {"Idempotency-Key": "replayed"}
    first = api.client.post("/api/alice/tasks", json={"title": "x"}, headers=headers)
    api.client.patch(path(first.json()) + "/complete", headers=auth())
    again = api.client.post("/api/alice/tasks", json={"title": "x"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"] == '"1"'


def test_browsers_may_send_conditions_and_read_etags(api: Api) -> None:
    preflight = api.client.options(
        "/api/alice/tasks/1",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        },
    )
    assert preflight.status_code == 204
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "if-match" in allowed and "if-none-match" in allowed
    task = api.create()
    answer = api.client.get(path(task), headers=auth() | {"Origin": ORIGIN})
    assert "etag" in answer.headers["access-control-expose-headers"].lower()
