"""A bounded load on a running `todo-api serve` (see tests/serving.py), and what came of it."""

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import make_token


@dataclass
class Outcome:
    """One request of a load: what was asked, when, and what came back."""

    kind: str  # "create" or "list"
    title: str | None
    started: float
    seconds: float
    status: int | None  # None: no HTTP answer (connection refused or closed)
    body: Any = None
    error: str | None = None


class Load:
    """A few threads sending creates (each with a unique title) and lists, until stopped.
    Bounded: at most `max_seconds`, even if nobody stops it."""

    def __init__(
        self, base_url: str, user: str = "loaduser", threads: int = 6, max_seconds: float = 120
    ) -> None:
        self.base_url = base_url
        self.user = user
        self.token = make_token(user, lifetime=timedelta(hours=1))
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.stopping = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a request never ended"
        return self.outcomes

    def since(self, moment: float) -> list[Outcome]:
        with self._lock:
            return [outcome for outcome in self.outcomes if outcome.started >= moment]

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            turn = 0
            while not self.stopping.is_set() and time.monotonic() < self.deadline:
                turn += 1
                kind = "create" if turn % 2 else "list"
                title = f"load {uuid.uuid4().hex}" if kind == "create" else None
                started = time.monotonic()
                try:
                    if title is not None:
                        response = client.post(f"/api/{self.user}/tasks", json={"title": title})
                    else:
                        response = client.get(f"/api/{self.user}/tasks")
                    outcome = Outcome(
                        kind, title, started, time.monotonic() - started, response.status_code
                    )
                    outcome.body = _json_or_text(response)
                except httpx.TransportError as exc:
                    outcome = Outcome(
                        kind, title, started, time.monotonic() - started, None, error=repr(exc)
                    )
                    time.sleep(0.05)
                with self._lock:
                    self.outcomes.append(outcome)
                time.sleep(0.01)


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
