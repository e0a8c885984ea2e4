"""Live updates through `todo-api serve` (real uvicorn processes, as deployed), on both databases:
events for every change, resuming with `Last-Event-ID`, a change made through one instance
reaching a stream on another (PostgreSQL), reminders at their time, the heartbeat and the end at
token expiry, the per-user limit, SIGTERM ending streams at once, and isolation."""

import queue
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DIRECT_POSTGRES_URL, SECRET, make_token, postgresql_only
from tests.serving import Service
from tests.sse import Event, Listener
from todo_api.core.settings import Settings


def start_services(settings: Settings, log_dir: Path) -> list[Service]:
    """The service on the test database: two instances on PostgreSQL, one on SQLite."""
    url = settings.database.sync_url.render_as_string(hide_password=False)
    count = 1 if settings.database.is_sqlite else 2
    return [
        Service(
            log_dir,
            {"DATABASE_URL": url, "BETTER_AUTH_SECRET": SECRET, "MAX_STREAMS_PER_USER": "3"},
        ).start()
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def served(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Service]]:
    """The instances every test of this module shares (starting them is most of a test's cost):
    each test has users of its own (`user()`) and closes its streams."""
    services = start_services(settings, tmp_path_factory.mktemp("served"))
    yield services
    for service in services:
        service.stop()


def user() -> str:
    return f"live-{time.monotonic_ns()}"


def call(service: Service, method: str, path: str, token: str, **body: Any) -> Any:
    response = httpx.request(
        method,
        f"{service.url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        json=body or None,
        timeout=10,
    )
    assert response.is_success, response.text
    return response.json() if response.content else None


def test_every_change_is_an_event_with_a_cursor_as_its_id(served: list[Service]) -> None:
    name, service = user(), served[0]
    token = make_token(name)
    listener = Listener(f"{service.url}/api/{name}/events", token)
    try:
        assert listener.status == 200
        task = call(service, "POST", f"/api/{name}/tasks", token, title="live")
        created = listener.next_event(kinds=("changed",))
        assert created.json() == task and created.id
        call(service, "PATCH", f"/api/{name}/tasks/{task['id']}/complete", token)
        assert listener.next_event(kinds=("changed",)).json()["completed"] is True
        call(service, "DELETE", f"/api/{name}/tasks/{task['id']}", token)
        deleted = listener.next_event(kinds=("deleted",))
        assert deleted.json() == {"id": task["id"]}
        # The id is a sync cursor: /changes from it has nothing more.
        after = httpx.get(
            f"{service.url}/api/{name}/changes",
            params={"since": deleted.id},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert after["tasks"] == [] and after["deleted"] == []
    finally:
        listener.close()


def test_last_event_id_resumes_with_what_was_missed_in_order_nothing_twice(
    served: list[Service],
) -> None:
    name, service = user(), served[0]
    token = make_token(name)
    listener = Listener(f"{service.url}/api/{name}/events", token)
    first = call(service, "POST", f"/api/{name}/tasks", token, title="first")
    seen = listener.next_event(kinds=("changed",))
    assert seen.json()["id"] == first["id"]
    listener.close()
    second = call(service, "POST", f"/api/{name}/tasks", token, title="second")
    call(service, "PATCH", f"/api/{name}/tasks/{first['id']}", token, title="first, again")
    call(service, "DELETE", f"/api/{name}/tasks/{second['id']}", token)
    resumed = Listener(
        f"{served[-1].url}/api/{name}/events", token, headers={"Last-Event-ID": str(seen.id)}
    )
    try:
        missed = [resumed.next_event(kinds=("changed", "deleted")) for _ in range(2)]
        assert [(e.kind, e.json().get("title")) for e in missed] == [
            ("changed", "first, again"),
            ("deleted", None),
        ]
        assert missed[1].json() == {"id": second["id"]}
        with pytest.raises(queue.Empty):
            item = resumed.items.get(timeout=2.5)
            while not isinstance(item, Event):  # heartbeats are not events
                item = resumed.items.get(timeout=2.5)
    finally:
        resumed.close()


@postgresql_only  # one instance on SQLite: the multi-instance case is PostgreSQL's
def test_a_change_through_one_instance_reaches_a_stream_on_another_within_2_s(
    served: list[Service],
) -> None:
    name = user()
    token = make_token(name)
    listener = Listener(f"{served[0].url}/api/{name}/events", token)
    try:
        for n in range(3):
            started = time.monotonic()
            call(served[1], "POST", f"/api/{name}/tasks", token, title=f"from the other {n}")
            event = listener.next_event(within=5, kinds=("changed",))
            assert event.json()["title"] == f"from the other {n}"
            assert time.monotonic() - started < 2.0
    finally:
        listener.close()


@pytest.mark.slow  # waits for the next whole minute
def test_a_reminder_comes_at_its_time(served: list[Service]) -> None:
    name, service = user(), served[0]
    token = make_token(name)
    now = datetime.now(UTC)
    due = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if due - now < timedelta(seconds=5):
        due += timedelta(minutes=1)
    listener = Listener(f"{service.url}/api/{name}/events", token)
    try:
        task = call(
            service,
            "POST",
            f"/api/{name}/tasks",
            token,
            title="stand up",
            due_date=due.date().isoformat(),
            due_time=due.strftime("%H:%M"),
            reminders=[0],
        )
        reminder = listener.next_event(within=75, kinds=("reminder",))
        assert datetime.now(UTC) >= due
        assert reminder.json() == {
            "task_id": task["id"],
            "title": "stand up",
            "due_at": task["due_at"],
            "remind_at": task["due_at"],
        }
        assert reminder.id is None  # a client's last id stays a sync cursor
    finally:
        listener.close()


@pytest.mark.slow  # the first heartbeat comes after 15 s
def test_heartbeats_then_the_stream_ends_when_the_token_expires(served: list[Service]) -> None:
    name, service = user(), served[0]
    token = make_token(name, lifetime=timedelta(seconds=18))
    listener = Listener(f"{service.url}/api/{name}/events", token)
    try:
        started = time.monotonic()
        beat = listener.items.get(timeout=20)
        assert isinstance(beat, str) and beat.startswith(":")
        assert 10 < time.monotonic() - started < 20
        last = listener.next_event(within=15)
        assert last.kind == "token-expired"
        assert listener.ended(5)
    finally:
        listener.close()


def test_streams_beyond_the_per_user_limit_are_refused(served: list[Service]) -> None:
    name, service = user(), served[0]
    token = make_token(name)
    listeners = [Listener(f"{service.url}/api/{name}/events", token) for _ in range(3)]
    try:
        assert [listener.status for listener in listeners] == [200] * 3
        refused = httpx.get(
            f"{service.url}/api/{name}/events",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert refused.status_code == 429
        assert refused.json()["error_code"] == "TOO_MANY_STREAMS"
        listeners.pop().close()
        time.sleep(0.5)  # the server notices the hang-up and frees the place
        listeners.append(Listener(f"{service.url}/api/{name}/events", token))
        assert listeners[-1].status == 200
    finally:
        for listener in listeners:
            listener.close()


def test_head_answers_at_once_and_holds_no_stream(served: list[Service]) -> None:
    """HEAD is a GET without the body: for an event stream, its status and headers, and then
    the end (a stream would hold one of the user's places for as long as the connection)."""
    name, service = user(), served[0]
    token = make_token(name)
    url, headers = f"{service.url}/api/{name}/events", {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10) as client:  # keep-alive: each connection stays open
        for _ in range(4):  # one more than MAX_STREAMS_PER_USER
            answer = client.head(url, headers=headers)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert "content-length" not in answer.headers
        assert client.head(url, headers={}).status_code == 401
        listeners = [Listener(url, token) for _ in range(3)]
        try:
            assert [listener.status for listener in listeners] == [200] * 3
            assert client.head(url, headers=headers).status_code == 429
        finally:
            for listener in listeners:
                listener.close()


def test_an_unknown_or_altered_resume_cursor_is_refused(served: list[Service]) -> None:
    name, service = user(), served[0]
    token = make_token(name)
    for headers in ({"Last-Event-ID": "garbage"}, {}):
        params = {} if headers else {"since": "e30.AAAA"}
        response = httpx.get(
            f"{service.url}/api/{name}/events",
            params=params,
            headers={"Authorization": f"Bearer {token}", **headers},
            timeout=10,
        )
        assert response.status_code == 422
        assert response.json()["error_code"] == "INVALID_CURSOR"
        # The field the client sent: EventSource sends the header itself.
        assert list(response.json()["field_errors"]) == ["Last-Event-ID" if headers else "since"]


def test_a_list_cursor_or_another_users_cursor_is_said_to_be_one(served: list[Service]) -> None:
    name, service = user(), served[0]
    token = make_token(name)
    for title in ("a", "b"):
        call(service, "POST", f"/api/{name}/tasks", token, title=title)
    link = httpx.get(
        f"{service.url}/api/{name}/tasks?limit=1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).headers["link"]
    list_cursor = link[link.index("cursor=") + 7 : link.index(">")]
    other = user()
    others_cursor = call(service, "GET", f"/api/{other}/changes", make_token(other))["cursor"]
    for since, reason in (
        (list_cursor, "This is a list page's cursor"),
        (others_cursor, "another user"),
    ):
        response = httpx.get(
            f"{service.url}/api/{name}/events",
            params={"since": since},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 422
        assert reason in response.json()["detail"]


def test_sigterm_ends_open_streams_at_once(settings: Settings, tmp_path: Path) -> None:
    # Instances of its own: the shared ones must outlive this test.
    services = start_services(settings, tmp_path)
    name, service = user(), services[-1]
    token = make_token(name)
    listener = Listener(f"{service.url}/api/{name}/events", token)
    try:
        assert service.process is not None
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        assert listener.ended(10), "the stream was still open 10 s after SIGTERM"
        service.process.wait(timeout=10)
        assert time.monotonic() - started < 10
    finally:
        listener.close()
        for each in services:
            each.stop()


def test_a_stream_sees_only_its_users_changes(served: list[Service]) -> None:
    alice, bob, service = user(), user(), served[0]
    listener = Listener(f"{service.url}/api/{bob}/events", make_token(bob))
    try:
        call(service, "POST", f"/api/{alice}/tasks", make_token(alice), title="alice's")
        call(service, "POST", f"/api/{bob}/tasks", make_token(bob), title="bob's")
        assert listener.next_event(kinds=("changed",)).json()["title"] == "bob's"
        other = httpx.get(
            f"{service.url}/api/{alice}/events",
            headers={"Authorization": f"Bearer {make_token(bob)}"},
            timeout=10,
        )
        assert other.status_code == 403
        assert httpx.get(f"{service.url}/api/{alice}/events", timeout=10).status_code == 401
    finally:
        listener.close()


def test_a_change_on_the_same_instance_reaches_its_streams_at_once(served: list[Service]) -> None:
    """The instance that served a write wakes its own streams without waiting for its poll."""
    name, service = user(), served[0]
    token = make_token(name)
    listener = Listener(f"{service.url}/api/{name}/events", token)
    try:
        delays = []
        for n in range(5):
            started = time.monotonic()
            call(service, "POST", f"/api/{name}/tasks", token, title=f"here {n}")
            listener.next_event(within=5, kinds=("changed",))
            delays.append(time.monotonic() - started)
        # The poll is once a second: five changes all seen well before theirs.
        assert sorted(delays)[2] < 0.5, delays
    finally:
        listener.close()


@postgresql_only  # LISTEN/NOTIFY is PostgreSQL's
def test_with_a_direct_url_instances_hear_each_other_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    """With DATABASE_DIRECT_URL, a write on one instance is announced with NOTIFY and heard by
    the other's LISTEN; its poll then waits 10 s, so only that can be quick."""
    url = settings.database.sync_url.render_as_string(hide_password=False)
    # The test database on the server itself, even when the suite runs through PgBouncer.
    direct = DIRECT_POSTGRES_URL.set(database=settings.database.sync_url.database)
    environment = {
        "DATABASE_URL": url,
        "DATABASE_DIRECT_URL": direct.render_as_string(hide_password=False),
        "BETTER_AUTH_SECRET": SECRET,
    }
    services = [Service(tmp_path, environment).start() for _ in range(2)]
    name = user()
    token = make_token(name)
    listener = Listener(f"{services[0].url}/api/{name}/events", token)
    try:
        time.sleep(1)  # the listening connection is up
        delays = []
        for n in range(5):
            started = time.monotonic()
            call(services[1], "POST", f"/api/{name}/tasks", token, title=f"there {n}")
            listener.next_event(within=15, kinds=("changed",))
            delays.append(time.monotonic() - started)
        assert sorted(delays)[2] < 0.5, delays
        assert "listening for changes on" in services[0].log()
    finally:
        listener.close()
        for service in services:
            service.stop()
