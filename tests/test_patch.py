"""PATCH as a JSON Merge Patch, settable `completed`, and `completed_at`, on both databases."""

from typing import Any

import pytest

from tests.conftest import Api, auth


def patch(api: Api, task: dict[str, Any], body: object, **headers: str) -> Any:
    return api.client.patch(f"/api/alice/tasks/{task['id']}", json=body, headers=auth() | headers)


def test_fields_present_change_and_fields_absent_stay(api: Api) -> None:
    task = api.create(title="before", description="kept")
    answer = patch(api, task, {"title": "after"})
    assert answer.status_code == 200
    changed = answer.json()
    assert (changed["title"], changed["description"]) == ("after", "kept")
    assert changed["version"] == 2 and changed["updated_at"] > task["updated_at"]
    assert changed["created_at"] == task["created_at"]


def test_null_clears_the_description(api: Api) -> None:
    task = api.create(description="some")
    assert patch(api, task, {"description": None}).json()["description"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"completed": None}, "completed"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"completed": "true"}, "completed"),
        ({"description": "d" * 1001}, "description"),
    ],
)
def test_invalid_patches_change_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    task = api.create(title="kept", description="kept too")
    answer = patch(api, task, body)
    assert answer.status_code == 422
    assert list(answer.json()["field_errors"]) == [field]
    [row] = api.rows()
    assert (row["title"], row["description"], row["version"]) == ("kept", "kept too", 1)


@pytest.mark.parametrize("body", [[], "title", 3, None])
def test_a_patch_that_is_not_an_object_is_a_422(api: Api, body: object) -> None:
    task = api.create()
    assert patch(api, task, body).status_code == 422


def test_an_empty_patch_changes_nothing(api: Api) -> None:
    task = api.create()
    answer = patch(api, task, {})
    assert answer.status_code == 200
    assert answer.json() == task


def test_merge_patch_content_type_is_taken(api: Api) -> None:
    task = api.create()
    answer = api.client.patch(
        f"/api/alice/tasks/{task['id']}",
        content=b'{"title": "merged"}',
        headers=auth() | {"Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200 and answer.json()["title"] == "merged"


@pytest.mark.parametrize(
    "content_type", ["application/json-patch+json", "application/vnd.api+json", "text/plain"]
)
def test_a_patch_that_is_not_a_merge_patch_is_a_415(api: Api, content_type: str) -> None:
    """A JSON Patch (RFC 6902) is another format, not a malformed merge patch (a 422)."""
    task = api.create()
    answer = api.client.patch(
        f"/api/alice/tasks/{task['id']}",
        content=b'[{"op": "replace", "path": "/title", "value": "x"}]',
        headers=auth() | {"Content-Type": content_type},
    )
    assert answer.status_code == 415
    assert answer.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/merge-patch+json" in answer.json()["detail"]
    assert [(row["title"], row["version"]) for row in api.rows()] == [("Buy milk", 1)]


def test_patch_of_a_task_that_is_not_yours_is_404(api: Api) -> None:
    bobs = api.create("bob", "bob's")
    answer = api.client.patch(
        f"/api/alice/tasks/{bobs['id']}", json={"title": "mine"}, headers=auth()
    )
    assert answer.status_code == 404
    assert api.rows()[0]["title"] == "bob's"


def test_completed_at_follows_completed_however_it_is_set(api: Api) -> None:
    task = api.create()
    assert task["completed_at"] is None
    done = patch(api, task, {"completed": True}).json()
    assert done["completed"] is True and done["completed_at"] == done["updated_at"]
    # Completing it again keeps when it became completed.
    again = patch(api, task, {"completed": True, "title": "still done"}).json()
    assert again["completed_at"] == done["completed_at"]
    reopened = patch(api, task, {"completed": False}).json()
    assert reopened["completed_at"] is None
    toggled = api.client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=auth()).json()
    assert toggled["completed"] is True and toggled["completed_at"] == toggled["updated_at"]
    untoggled = api.client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=auth()).json()
    assert untoggled["completed_at"] is None
    put = api.client.put(
        f"/api/alice/tasks/{task['id']}", json={"title": "t", "completed": True}, headers=auth()
    ).json()
    assert put["completed_at"] == put["updated_at"]
    assert put["version"] == task["version"] + 6
