"""Many instances, tested as deployed: three `todo-api serve` instances behind nginx, on PgBouncer
in transaction mode in front of PostgreSQL. Under load with retries and Idempotency-Keys, one
instance is killed (SIGKILL) and another stopped (SIGTERM). Then: every create that got a 201
exists exactly once, no 5xx reached a client, the stream on the surviving instance saw every
change made through the others, and the streams of the two others resumed through nginx with
their Last-Event-ID, missing nothing."""

import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from tests.conftest import make_token
from tests.infra.conftest import Infra
from tests.sse import Event, Listener
from todo_api.core.migrate import upgrade
from todo_api.core.settings import DatabaseURL

pytestmark = pytest.mark.infra

USER = "deployed"
WRITERS = 4
LOAD_SECONDS = 8.0


def _apply(state: dict[int, Any], event: Event) -> None:
    if event.kind == "changed":
        task = event.json()
        state[task["id"]] = task
    elif event.kind == "deleted":
        state.pop(event.json()["id"], None)


class Writer(threading.Thread):
    """Creates (each with its own Idempotency-Key, retried with it until a 201) and completes
    tasks through nginx until told to stop; keeps every answer's status."""

    def __init__(self, url: str, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.headers = {"Authorization": f"Bearer {token}"}
        self.statuses: list[int] = []
        self.created: dict[str, int] = {}  # key -> task id of its 201

    def _retrying(self, send: Callable[[httpx.Client], httpx.Response]) -> httpx.Response | None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=15) as client:
            for _ in range(20):
                try:
                    answer = send(client)
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                self.statuses.append(answer.status_code)
                if answer.status_code < 500:
                    return answer
                time.sleep(0.1)
        return None

    def run(self) -> None:
        while not self.stop.is_set():
            key = uuid.uuid4().hex
            answer = self._retrying(partial(_create, key=key))
            if answer is not None and answer.status_code == 201:
                task_id = answer.json()["id"]
                self.created[key] = task_id
                self._retrying(partial(_complete, task_id=task_id))


def _create(client: httpx.Client, key: str) -> httpx.Response:
    return client.post(f"/api/{USER}/tasks", json={"title": key}, headers={"Idempotency-Key": key})


def _complete(client: httpx.Client, task_id: int) -> httpx.Response:
    return client.patch(f"/api/{USER}/tasks/{task_id}", json={"completed": True})


def test_three_instances_behind_nginx_lose_nothing_when_two_go(infra: Infra) -> None:
    cluster = infra.cluster()
    upgrade(DatabaseURL.parse(cluster.url()))  # migrations on the direct URL, as the README says
    bouncer = infra.pgbouncer(cluster)
    instances = [infra.service(bouncer.url()) for _ in range(3)]
    nginx = infra.nginx([instance.port for instance in instances])
    token = make_token(USER, lifetime=timedelta(minutes=10))
    # One stream on each instance, directly: which instance a stream is on is known.
    listeners = [Listener(f"{instance.url}/api/{USER}/events", token) for instance in instances]
    stop = threading.Event()
    writers = [Writer(nginx.url, token, stop) for _ in range(WRITERS)]
    for writer in writers:
        writer.start()
    killed, stopped, _ = instances  # the third survives
    time.sleep(LOAD_SECONDS / 3)
    assert killed.process is not None and stopped.process is not None
    killed.process.kill()  # SIGKILL: no goodbye
    time.sleep(LOAD_SECONDS / 3)
    stopped.terminate()  # SIGTERM: ends its streams at once, finishes what it accepted
    time.sleep(LOAD_SECONDS / 3)
    stop.set()
    for writer in writers:
        writer.join(timeout=60)
    # uvicorn re-raises the signal once it has shut down cleanly: "terminated by SIGTERM".
    assert stopped.process.wait(timeout=30) in (0, -signal.SIGTERM)

    # Every create that got a 201 exists exactly once; no 5xx reached a client.
    statuses = [status for writer in writers for status in writer.statuses]
    created = {key: task_id for writer in writers for key, task_id in writer.created.items()}
    assert created, "no task was created"
    print(f"deployment: {len(created)} creates, {len(statuses)} answers: {sorted(set(statuses))}")
    assert [status for status in statuses if status >= 500] == []
    with httpx.Client(base_url=nginx.url, headers={"Authorization": f"Bearer {token}"}) as client:
        server = client.get(f"/api/{USER}/tasks").json()
    titles = [task["title"] for task in server]
    assert sorted(titles) == sorted(created)  # each key once, none lost, none doubled
    assert {task["id"] for task in server} == set(created.values())

    # The surviving instance's stream saw every change made through the others.
    expected = {task["id"]: task for task in server}
    deadline = time.monotonic() + 10
    seen: dict[int, Any] = {}
    while seen != expected and time.monotonic() < deadline:
        try:
            _apply(seen, listeners[2].next_event(within=max(0.1, deadline - time.monotonic())))
        except AssertionError:
            break
    assert seen == expected

    # The streams of the two that went ended; their clients resume through nginx with their
    # last event id, and get what they missed, nothing twice.
    for listener in listeners[:2]:
        state: dict[int, Any] = {}
        ids: list[str] = []
        while (item := listener.items.get(timeout=30)) is not None:
            if isinstance(item, Event):
                _apply(state, item)
                if item.id:
                    ids.append(item.id)
        assert ids, "the stream got no event before its instance went"
        resumed = Listener(
            f"{nginx.url}/api/{USER}/events", token, headers={"Last-Event-ID": ids[-1]}
        )
        try:
            deadline = time.monotonic() + 15
            while state != expected and time.monotonic() < deadline:
                event = resumed.next_event(within=max(0.1, deadline - time.monotonic()))
                assert event.id not in ids, "an event came twice"
                _apply(state, event)
                if event.id:
                    ids.append(event.id)
            assert state == expected
        finally:
            resumed.close()
    for listener in listeners:
        listener.close()
