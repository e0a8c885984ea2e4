"""`todo-api serve` as an operator runs it (a real uvicorn process), for the tests that need one:
the command-line tests, the end-to-end tests and the infrastructure tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

TODO_API = str(Path(sys.executable).parent / "todo-api")
# Settings of ours that the environment of the test run must not leak into a service under test.
_OUR_VARIABLES = ("DATABASE_URL", "NEON_DB_URL", "BETTER_AUTH", "JWT_", "JWKS_", "DB_", "PORT")
_OUR_NAMES = (
    "ALLOWED_ORIGINS",
    "ACCEPT_SESSION_CACHE_JWT",
    "MAX_",
    "METRICS_",
    "IDEMPOTENCY_",
    "HEADER_",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any of the service's settings, plus `values`."""
    prefixes = _OUR_VARIABLES + _OUR_NAMES
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(values)
    return env


def stop(
    process: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM, timeout: float = 15
) -> None:
    """Asks the process to end with `how`, and kills it when it has not within `timeout`."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Service:
    """`todo-api serve` on 127.0.0.1 with exactly these settings, its log in `log_dir`."""

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

    def start(self, within_seconds: float = 60) -> "Service":
        env = clean_env(LOG_LEVEL="INFO", **self.settings)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [TODO_API, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.log_dir,  # no stray .env file
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + within_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"todo-api serve exited with {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"todo-api serve did not answer within {within_seconds:g} s: {self.log()}")

    def terminate(self) -> None:
        """SIGTERM, without waiting: a graceful shutdown to watch."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.process is not None:
            stop(self.process)
            self.process = None

    def close(self) -> None:
        """SIGKILL now: cleanup after a test that may have left it waiting on a dead database."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
