"""`todo-api serve` as an operator runs it (a real uvicorn process), and a bounded load on it."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SECRET, make_token
from tests.infra.postgres import free_port

TODO_API = str(Path(sys.executable).parent / "todo-api")
# Our settings in the environment of the test run must not leak into the service under test.
_OURS = ("DATABASE_URL", "NEON_DB_URL", "BETTER_AUTH", "JWT_", "DB_", "ALLOWED_ORIGINS", "PORT")


@dataclass
class Service:
    log_dir: Path
    settings: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"todo-api-{self.port}.log"

    def start(self) -> "Service":
        env = {key: value for key, value in os.environ.items() if not key.startswith(_OURS)}
        env.update(BETTER_AUTH_SECRET=SECRET, LOG_LEVEL="INFO", **self.settings)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [TODO_API, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.log_dir,  # no stray .env file
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"todo-api serve exited with {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail(f"todo-api serve did not answer within 30 s: {self.log()}")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


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
