"""The servers under test: how each is started, checked for readiness and stopped."""

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.options import REPO_ROOT, V1_WORKLOADS

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
# What the straightforward ORM baseline serves: the v1 contract. The v2 workloads (filters,
# pages, If-Match) are the service's only.
ALL_WORKLOADS = V1_WORKLOADS


@dataclass(frozen=True)
class ServerSpec:
    name: str
    description: str
    command: tuple[str, ...]
    port: int
    workloads: tuple[str, ...]
    workers: int = 1
    is_ours: bool = False
    # Variables this server gets on top of the run's (another database, say).
    env: tuple[tuple[str, str], ...] = ()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _baseline(
    name: str, description: str, app: str, loop: str, loads: tuple[str, ...]
) -> ServerSpec:
    port = free_port()
    command = (
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        loop,
        "--no-access-log",
        "--log-level",
        "warning",
    )
    return ServerSpec(name, description, command, port, loads)


def baseline_specs(loop: str) -> list[ServerSpec]:
    return [
        _baseline(
            "constant",
            "FastAPI + PyJWT, constant JSON list (framework ceiling)",
            "bench.baselines.constant_app:app",
            loop,
            ("list",),
        ),
        _baseline(
            "driver",
            "FastAPI + PyJWT + raw asyncpg, json_agg text passed through (driver ceiling)",
            "bench.baselines.driver_app:app",
            loop,
            ("list",),
        ),
        _baseline(
            "driver-decoded",
            "FastAPI + PyJWT + raw asyncpg, rows decoded and encoded with orjson",
            "bench.baselines.decoded_driver_app:app",
            loop,
            ("list",),
        ),
        _baseline(
            "orm",
            "straightforward async SQLModel, default pool",
            "bench.baselines.orm_app:app",
            loop,
            ALL_WORKLOADS,
        ),
    ]


def resolve_command(template: str, port: int, workers: int) -> tuple[str, ...]:
    """Fill in the template and find the program (also beside this interpreter, in a venv)."""
    words = [
        word.format(host=HOST, port=port, workers=workers, python=sys.executable)
        for word in shlex.split(template)
    ]
    program = shutil.which(words[0]) or shutil.which(
        words[0], path=str(Path(sys.executable).parent)
    )
    if program is None:
        raise SystemExit(
            f"'{words[0]}' not found: install the service (pip install -e .), or pass "
            "--ours-cmd/--migrate-cmd (see bench/README.md), or --no-ours"
        )
    return (program, *words[1:])


def ours_specs(
    template: str, workers: tuple[int, ...], workloads: tuple[str, ...]
) -> list[ServerSpec]:
    specs = []
    for i, count in enumerate(workers):
        name = "ours" if i == 0 else f"ours-w{count}"
        # A second worker count adds an extra server: the list and the mix say enough.
        loads = workloads if i == 0 else tuple(w for w in workloads if w in {"list", "mix"})
        port = free_port()
        specs.append(
            ServerSpec(
                name,
                f"the service, {count} worker{'s' if count > 1 else ''}",
                resolve_command(template, port, count),
                port,
                loads,
                count,
                is_ours=True,
            )
        )
    return specs


class Server:
    """One running server; a context manager that always stops it (and its workers)."""

    def __init__(self, spec: ServerSpec, env: dict[str, str], log_dir: Path, rows: int = 0) -> None:
        self.spec = spec
        self.env = env
        self.rows = rows  # rows in its database's tasks table, in the table-size phase only
        self.label = f"{spec.name}@{rows:,}" if rows else spec.name
        self.log_path = log_dir / f"{self.label}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.spec.port}"

    @property
    def database_url(self) -> str:
        return {**self.env, **dict(self.spec.env)}["DATABASE_URL"]

    def launch(self) -> "Server":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command lines
                self.spec.command,
                env={**self.env, **dict(self.spec.env)},
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def get(self, path: str, token: str) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            self.base_url + path, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            body: bytes = reply.read()
        return body

    def wait_ready(self, path: str, token: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            self.base_url + path, headers={"Authorization": f"Bearer {token}"}
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
                    if reply.status == 200:
                        return
                    last = f"HTTP {reply.status}"
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}"
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise SystemExit(f"server '{self.label}' did not get ready ({last}); log:\n{tail}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
