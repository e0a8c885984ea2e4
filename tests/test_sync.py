"""Sync across devices on both databases: `/changes` from scratch and since a cursor, pages,
deletions, cursors altered or expired, tombstones purged, isolation, and a hammer: several writer
processes through `todo-api serve` (two instances on PostgreSQL) while a reader applies every
answer, then an exact comparison with the server's tasks, several rounds."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.conftest import SECRET, Api, auth, make_token
from tests.serving import Service
from todo_api.core import cursors
from todo_api.core.errors import SyncCursorExpired
from todo_api.core.settings import Settings
from todo_api.sync.changes import ChangesParams, changes, purge_tombstones

CHANGES = "/api/alice/changes"
TASKS = "/api/alice/tasks"
HAMMER_ROUNDS = int(os.environ.get("SYNC_HAMMER_ROUNDS", "3"))


def ask(api: Api, since: str | None = None, limit: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    response = api.client.get(CHANGES, params=params, headers=auth())
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def drain(api: Api, since: str | None, limit: int = 500) -> tuple[list[Any], list[int], str]:
    """Every page of one answer: the tasks and deleted ids in the order given, and the cursor."""
    tasks: list[Any] = []
    deleted: list[int] = []
    while True:
        answer = ask(api, since, limit)
        assert len(answer["tasks"]) + len(answer["deleted"]) <= limit
        tasks += answer["tasks"]
        deleted += answer["deleted"]
        since = answer["cursor"]
        if not answer["has_more"]:
            return tasks, deleted, since


def create(api: Api, title: str = "t") -> dict[str, Any]:
    task: dict[str, Any] = api.create(title=title)
    return task


def test_without_since_every_task_comes_and_nothing_is_deleted(api: Api) -> None:
    made = [create(api, f"t{n}") for n in range(3)]
    api.client.delete(f"{TASKS}/{made[1]['id']}", headers=auth())
    answer = ask(api)
    assert answer["tasks"] == [made[0], made[2]]
    assert answer["deleted"] == [] and answer["has_more"] is False
    assert isinstance(answer["cursor"], str)


def test_since_a_cursor_only_what_changed_comes_in_its_state_now(api: Api) -> None:
    kept, changed, gone, twice = (create(api, f"t{n}") for n in range(4))
    _, _, cursor = drain(api, None)
    api.client.patch(f"{TASKS}/{changed['id']}/complete", headers=auth())
    api.client.delete(f"{TASKS}/{gone['id']}", headers=auth())
    for title in ("once", "twice"):
        api.client.patch(f"{TASKS}/{twice['id']}", json={"title": title}, headers=auth())
    new = create(api, "new")
    tasks, deleted, cursor = drain(api, cursor)
    by_id = {task["id"]: task for task in tasks}
    assert sorted(by_id) == sorted([changed["id"], twice["id"], new["id"]])
    assert len(tasks) == 3  # each once
    assert by_id[changed["id"]]["completed"] is True
    assert by_id[twice["id"]]["title"] == "twice"
    assert deleted == [gone["id"]]
    assert kept["id"] not in by_id
    assert drain(api, cursor)[:2] == ([], [])


def test_a_task_created_and_deleted_between_two_syncs_is_only_deleted(api: Api) -> None:
    _, _, cursor = drain(api, None)
    brief = create(api)
    api.client.delete(f"{TASKS}/{brief['id']}", headers=auth())
    assert drain(api, cursor)[:2] == ([], [brief["id"]])


def test_changes_made_by_tag_renames_and_completions_of_a_series_come_too(api: Api) -> None:
    tagged = api.create(title="t", tags=["Work"])
    series = api.create(title="s", due_date="2031-01-01", recurrence="FREQ=DAILY")
    _, _, cursor = drain(api, None)
    api.client.patch("/api/alice/tags/work", json={"name": "Office"}, headers=auth())
    done = api.client.patch(f"{TASKS}/{series['id']}/complete", headers=auth()).json()
    tasks, _, _ = drain(api, cursor)
    by_id = {task["id"]: task for task in tasks}
    assert by_id[tagged["id"]]["tags"] == ["Office"]
    assert by_id[series["id"]]["next_task_id"] == done["next_task_id"]
    assert done["next_task_id"] in by_id


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_pages_bound_tasks_and_deletions_and_give_each_once(api: Api, limit: int) -> None:
    made = [create(api, f"t{n}") for n in range(6)]
    full, _, cursor = drain(api, None, limit)
    assert [task["id"] for task in full] == [task["id"] for task in made]
    for task in made[:3]:
        api.client.delete(f"{TASKS}/{task['id']}", headers=auth())
    for task in made[3:]:
        api.client.patch(f"{TASKS}/{task['id']}/complete", headers=auth())
    tasks, deleted, _ = drain(api, cursor, limit)
    assert sorted(deleted) == [task["id"] for task in made[:3]]
    assert sorted(task["id"] for task in tasks) == [task["id"] for task in made[3:]]


def test_a_change_during_a_paged_answer_comes_in_the_next_one(api: Api) -> None:
    made = [create(api, f"t{n}") for n in range(4)]
    first = ask(api, None, 2)
    assert first["has_more"] is True
    api.client.patch(f"{TASKS}/{made[0]['id']}", json={"title": "late"}, headers=auth())
    rest, _, cursor = drain(api, first["cursor"], 2)
    assert [task["id"] for task in first["tasks"] + rest] == [task["id"] for task in made]
    tasks, _, _ = drain(api, cursor)
    assert [(task["id"], task["title"]) for task in tasks] == [(made[0]["id"], "late")]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since": ""}, "since"),
        ({"after": "x"}, "after"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    api: Api, params: dict[str, str], field: str
) -> None:
    response = api.client.get(CHANGES, params=params, headers=auth())
    assert response.status_code == 422
    assert any(field in key for key in response.json()["field_errors"]), response.json()


def test_an_altered_cursor_or_a_list_cursor_is_invalid(api: Api) -> None:
    create(api), create(api)
    cursor = ask(api)["cursor"]
    altered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    listed = api.client.get(f"{TASKS}?limit=1", headers=auth()).headers["Link"]
    list_cursor = listed.split("cursor=")[1].split(">")[0]
    for bad in (altered, list_cursor, "garbage", "e30.AAAA"):
        response = api.client.get(CHANGES, params={"since": bad}, headers=auth())
        assert response.status_code == 422
        assert response.json()["error_code"] == "INVALID_CURSOR"
        assert list(response.json()["field_errors"]) == ["since"]


def test_a_parameter_given_twice_is_refused(api: Api) -> None:
    response = api.client.get(f"{CHANGES}?limit=1&limit=2", headers=auth())
    assert response.status_code == 422 and "limit" in response.json()["field_errors"]


def test_a_cursor_older_than_the_retention_is_gone(api: Api, settings: Settings) -> None:
    cursor = ask(api)["cursor"]
    retention = timedelta(days=settings.sync_retention_days)
    later = datetime.now(UTC) + retention + timedelta(minutes=1)
    with api.engine.connect() as connection, pytest.raises(SyncCursorExpired):
        changes(connection, "alice", ChangesParams(since=cursor), retention, later)
    assert SyncCursorExpired.status_code == 410
    assert SyncCursorExpired.error_code == "SYNC_CURSOR_EXPIRED"
    with api.engine.connect() as connection:  # a moment before, it is still good
        changes(
            connection,
            "alice",
            ChangesParams(since=cursor),
            retention,
            later - timedelta(minutes=2),
        )


def test_old_tombstones_are_purged_and_recent_ones_kept(api: Api) -> None:
    old, recent = create(api), create(api)
    for task in (old, recent):
        api.client.delete(f"{TASKS}/{task['id']}", headers=auth())
    with api.engine.begin() as connection:
        connection.execute(
            text("UPDATE task_tombstones SET deleted_at = :when WHERE task_id = :id"),
            {"when": datetime.now(UTC) - timedelta(days=40), "id": old["id"]},
        )
        removed = purge_tombstones(connection, datetime.now(UTC) - timedelta(days=30))
        left = connection.execute(text("SELECT task_id FROM task_tombstones")).scalars().all()
    assert removed == 1 and left == [recent["id"]]


def test_each_user_syncs_only_their_own_tasks(api: Api) -> None:
    create(api)
    bob = api.client.get("/api/bob/changes", headers=auth("bob"))
    assert bob.status_code == 200 and bob.json()["tasks"] == []
    alice_cursor = ask(api)["cursor"]
    api.create("bob", "bob's")
    create(api, "alice's")
    # Alice's cursor is refused for bob, never read as a position among his own changes.
    seen = api.client.get("/api/bob/changes", params={"since": alice_cursor}, headers=auth("bob"))
    assert seen.status_code == 422 and "made for another user" in seen.json()["detail"]
    assert list(seen.json()["field_errors"]) == ["since"]
    assert api.client.get(CHANGES, headers=auth("bob")).status_code == 403
    assert api.client.get(CHANGES).status_code == 401


def test_a_list_cursor_as_since_is_said_to_be_one(api: Api) -> None:
    create(api, "a")
    create(api, "b")
    link = api.client.get(f"{TASKS}?limit=1", headers=auth()).headers["link"]
    list_cursor = link[link.index("cursor=") + 7 : link.index(">")]
    answer = api.client.get(CHANGES, params={"since": list_cursor}, headers=auth())
    assert answer.status_code == 422 and answer.json()["error_code"] == "INVALID_CURSOR"
    assert answer.json()["detail"].startswith("This is a list page's cursor")
    assert "altered" not in answer.json()["detail"]


def test_a_sync_cursor_made_before_users_were_sealed_in_still_works(api: Api) -> None:
    """Devices keep their sync cursors across an upgrade: one without its user is still read."""
    create(api, "before")
    cursor = ask(api)["cursor"]
    payload = cursors.unseal(cursor, cursors.SYNC, "since", "alice")
    raw = orjson.dumps(payload)
    legacy = cursors._b64(raw) + "." + cursors._b64(cursors._checksum(raw, cursors.SYNC))
    create(api, "after")
    assert [task["title"] for task in ask(api, since=legacy)["tasks"]] == ["after"]


def _apply(state: dict[int, Any], answer: dict[str, Any]) -> None:
    for task in answer["tasks"]:
        state[task["id"]] = task
    for task_id in answer["deleted"]:
        state.pop(task_id, None)


@pytest.fixture(scope="module")
def hammered(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Service]]:
    """One instance (SQLite) or two (PostgreSQL) for every round: each round has its own user."""
    database_url = settings.database.sync_url.render_as_string(hide_password=False)
    directory = tmp_path_factory.mktemp("hammered")
    instances = 1 if settings.database.is_sqlite else 2
    services = [
        Service(directory, {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET}).start()
        for _ in range(instances)
    ]
    yield services
    for service in services:
        service.stop()


@pytest.mark.parametrize("round_", range(HAMMER_ROUNDS))
def test_a_reader_applying_changes_ends_with_the_servers_tasks_under_concurrent_writers(
    hammered: list[Service], round_: int
) -> None:
    """Writer processes hammer one user's tasks through one instance (SQLite) or two
    (PostgreSQL); a reader keeps applying `/changes` with a small page meanwhile. When the
    writers are done, one more sync must leave the reader with exactly the server's tasks."""
    user = f"hammer-{uuid.uuid4().hex[:8]}"
    services = hammered
    token = make_token(user, lifetime=timedelta(minutes=30))
    urls = [service.url for service in services]
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.sync_hammer", f"{round_}{n}", "120", token, user, *urls],
            cwd=Path(__file__).resolve().parent.parent,
        )
        for n in range(4)
    ]
    state: dict[int, Any] = {}
    cursor: str | None = None
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(headers=headers, timeout=30) as reader:

            def sync_once(url: str) -> dict[str, Any]:
                nonlocal cursor
                params = {"limit": 7} | ({"since": cursor} if cursor else {})
                response = reader.get(f"{url}/api/{user}/changes", params=params)
                assert response.status_code == 200, response.text
                answer: dict[str, Any] = response.json()
                _apply(state, answer)
                cursor = answer["cursor"]
                return answer

            turn = 0
            while any(writer.poll() is None for writer in writers):
                sync_once(urls[turn % len(urls)])
                turn += 1
            assert [writer.wait() for writer in writers] == [0] * len(writers)
            while sync_once(urls[0])["has_more"]:
                pass
            server = reader.get(f"{urls[-1]}/api/{user}/tasks").json()
    finally:
        for writer in writers:
            writer.kill() if writer.poll() is None else None
    assert server, "the writers left no tasks: nothing was compared"
    assert state == {task["id"]: task for task in server}
