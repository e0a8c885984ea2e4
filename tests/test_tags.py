"""Tags (SPEC.md, "Tags"), on both databases: validation, one spelling per user, the tag filter,
the tag list with counts, renaming and merging, removal, the per-user limit, isolation."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, auth
from todo_api.app import create_app
from todo_api.core.settings import Settings


def titles(api: Api, query: str, user: str = "alice") -> list[str]:
    answer = api.client.get(f"/api/{user}/tasks?{query}", headers=auth(user))
    assert answer.status_code == 200, answer.text
    return [task["title"] for task in answer.json()]


def tag_list(api: Api, user: str = "alice") -> Any:
    answer = api.client.get(f"/api/{user}/tags", headers=auth(user))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_tags_are_trimmed_kept_in_order_and_given_once(api: Api) -> None:
    task = api.create(tags=["  Work ", "home", "WORK", "Home", "été"])
    assert task["tags"] == ["Work", "home", "été"]
    assert api.create(title="plain")["tags"] == []


@pytest.mark.parametrize(
    "tags",
    [
        [""],
        ["   "],
        ["x" * 41],
        ["bell\x07"],
        ["tab\tinside"],
        ["c1\x85inside"],
        ["a"] * 21,
        "work",
        [7],
    ],
)
def test_invalid_tags_are_a_422_naming_tags(api: Api, tags: object) -> None:
    answer = api.client.post("/api/alice/tasks", json={"title": "t", "tags": tags}, headers=auth())
    assert answer.status_code == 422, answer.text
    assert list(answer.json()["field_errors"]) == ["tags"]
    assert api.rows() == []


def test_a_tag_keeps_the_spelling_the_user_first_gave_it(api: Api) -> None:
    api.create(title="a", tags=["Work"])
    second = api.create(title="b", tags=["WORK", "Errands"])
    assert second["tags"] == ["Work", "Errands"]
    changed = api.client.patch(
        f"/api/alice/tasks/{second['id']}", json={"tags": ["errands", "work"]}, headers=auth()
    ).json()
    assert changed["tags"] == ["Errands", "Work"]
    # Another user's spelling is theirs.
    assert api.create("bob", "c", tags=["wOrK"])["tags"] == ["wOrK"]


def test_the_tag_filter_asks_for_every_tag_given(api: Api) -> None:
    api.create(title="both", tags=["Work", "Urgent"])
    api.create(title="work only", tags=["work"])
    api.create(title="none")
    api.create("bob", "bob's", tags=["work", "urgent"])
    assert titles(api, "tag=WORK") == ["both", "work only"]
    assert titles(api, "tag=work&tag=urgent") == ["both"]
    assert titles(api, "tag=work&tag=missing") == []
    assert titles(api, "tag=urgent&status=pending&sort=-id&limit=5") == ["both"]


def test_the_tag_list_counts_tasks_and_pending_ones(api: Api) -> None:
    first = api.create(title="a", tags=["Work", "zeta"])
    api.create(title="b", tags=["work", "Été"])
    api.client.patch(f"/api/alice/tasks/{first['id']}/complete", headers=auth())
    api.create("bob", "c", tags=["bobs"])
    assert tag_list(api) == [
        {"name": "Work", "tasks": 2, "pending": 1},
        {"name": "zeta", "tasks": 1, "pending": 0},
        {"name": "Été", "tasks": 1, "pending": 1},
    ]
    api.client.delete(f"/api/alice/tasks/{first['id']}", headers=auth())
    assert [tag["name"] for tag in tag_list(api)] == ["Work", "Été"]
    assert tag_list(api, "nobody") == []


def test_renaming_a_tag_changes_every_task_that_carries_it(api: Api) -> None:
    a = api.create(title="a", tags=["home", "Work"])
    b = api.create(title="b", tags=["work"])
    c = api.create(title="c", tags=["other"])
    bob = api.create("bob", "bob's", tags=["work"])
    answer = api.client.patch("/api/alice/tags/WORK", json={"name": "Office"}, headers=auth())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": "Office", "tasks": 2, "pending": 2}
    tasks = {t["id"]: t for t in api.client.get("/api/alice/tasks", headers=auth()).json()}
    assert tasks[a["id"]]["tags"] == ["home", "Office"]
    assert tasks[b["id"]]["tags"] == ["Office"]
    assert (tasks[a["id"]]["version"], tasks[c["id"]]["version"]) == (2, 1)
    assert tasks[a["id"]]["updated_at"] > a["updated_at"]
    assert titles(api, "tag=office") == ["a", "b"] and titles(api, "tag=work") == []
    bobs = api.client.get(f"/api/bob/tasks/{bob['id']}", headers=auth("bob")).json()
    assert bobs["tags"] == ["work"] and bobs["version"] == 1


def test_renaming_into_an_existing_tag_merges(api: Api) -> None:
    a = api.create(title="a", tags=["Job", "Work"])
    api.create(title="b", tags=["job"])
    answer = api.client.patch("/api/alice/tags/job", json={"name": "WORK"}, headers=auth())
    assert answer.json() == {"name": "Work", "tasks": 2, "pending": 2}
    assert api.client.get(f"/api/alice/tasks/{a['id']}", headers=auth()).json()["tags"] == ["Work"]
    assert tag_list(api) == [{"name": "Work", "tasks": 2, "pending": 2}]


def test_renaming_can_respell_a_tag(api: Api) -> None:
    api.create(title="a", tags=["work"])
    answer = api.client.patch("/api/alice/tags/work", json={"name": "Work"}, headers=auth())
    assert answer.json()["name"] == "Work"
    assert tag_list(api)[0]["name"] == "Work"


def test_deleting_a_tag_takes_it_off_every_task(api: Api) -> None:
    a = api.create(title="a", tags=["home", "Work"])
    api.create(title="b", tags=["work"])
    assert api.client.delete("/api/alice/tags/wORK", headers=auth()).status_code == 204
    assert api.client.get(f"/api/alice/tasks/{a['id']}", headers=auth()).json()["tags"] == ["home"]
    assert [tag["name"] for tag in tag_list(api)] == ["home"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_an_unknown_tag_is_404(api: Api, method: str) -> None:
    api.create("bob", "bob's", tags=["work"])
    answer = api.client.request(
        method,
        "/api/alice/tags/work",
        json={"name": "x"} if method == "PATCH" else None,
        headers=auth(),
    )
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "TAG_NOT_FOUND"


def test_a_rename_must_name_a_valid_tag(api: Api) -> None:
    api.create(tags=["work"])
    for body in ({"name": ""}, {"name": "x" * 41}, {}, {"name": None}):
        answer = api.client.patch("/api/alice/tags/work", json=body, headers=auth())
        assert answer.status_code == 422, body
    assert tag_list(api)[0]["name"] == "work"


def test_tags_of_other_users_are_out_of_reach(api: Api) -> None:
    api.create("bob", "bob's", tags=["secret"])
    assert api.client.get("/api/bob/tags", headers=auth()).status_code == 403
    assert api.client.delete("/api/bob/tags/secret", headers=auth()).status_code == 403
    assert tag_list(api) == []


def test_a_user_holds_at_most_500_distinct_tags(api: Api, settings: Settings) -> None:
    for n in range(25):
        api.create(title=f"t{n}", tags=[f"tag{n}-{i}" for i in range(20)])
    refused = api.client.post(
        "/api/alice/tasks", json={"title": "one more", "tags": ["brand new"]}, headers=auth()
    )
    assert refused.status_code == 409
    assert refused.json()["error_code"] == "TAG_LIMIT_REACHED"
    # Tags the user has already are fine, and so is a new one once another is gone.
    assert api.create(title="reuse", tags=["TAG0-0"])["tags"] == ["tag0-0"]
    assert api.client.delete("/api/alice/tags/tag1-1", headers=auth()).status_code == 204
    assert api.create(title="now room", tags=["brand new"])["tags"] == ["brand new"]


def test_concurrent_writes_cannot_pass_the_tag_limit(api: Api, settings: Settings) -> None:
    for n in range(25):
        api.create(title=f"t{n}", tags=[f"tag{n}-{i}" for i in range(20)])
    api.client.delete("/api/alice/tags/tag0-0", headers=auth())  # room for exactly one

    with TestClient(create_app(settings)) as client:

        def create(n: int) -> int:
            answer = client.post(
                "/api/alice/tasks", json={"title": "x", "tags": [f"new{n}"]}, headers=auth()
            )
            return int(answer.status_code)

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = sorted(pool.map(create, range(10)))
    assert statuses == [201] + [409] * 9
    assert len(tag_list(api)) == 500


def test_a_tag_with_a_slash_or_odd_characters_is_addressable(api: Api) -> None:
    api.create(tags=["a/b", "50% off"])
    assert api.client.delete("/api/alice/tags/A%2FB", headers=auth()).status_code == 204
    renamed = api.client.patch("/api/alice/tags/50%25%20OFF", json={"name": "sale"}, headers=auth())
    assert renamed.json() == {"name": "sale", "tasks": 1, "pending": 1}
    assert api.client.delete("/api/alice/tags/%0Asale", headers=auth()).status_code == 404
