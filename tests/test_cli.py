"""The `todo-api` command as an operator runs it: refusals, migrate + serve, and dev mode."""

import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL, SECRET, make_token, only_with_postgresql
from tests.serving import TODO_API, clean_env, free_port


@contextmanager
def running(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [TODO_API, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def cli_token(user_id: str, env: dict[str, str], cwd: Path) -> str:
    """A token from `todo-api token`, as an operator mints one."""
    result = subprocess.run(
        [TODO_API, "token", user_id], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip()


def wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}")
        try:
            httpx.get(f"{base}/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("server did not start within 30 s")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "DATABASE_URL is not set"),
        (
            {"DATABASE_URL": "sqlite:///x.db"},
            "no way to verify tokens: set BETTER_AUTH_URL (your Better Auth server",
        ),
        (
            {"DATABASE_URL": "sqlite:///x.db", "BETTER_AUTH_URL": "ftp://auth.example.com"},
            "BETTER_AUTH_URL: must be an http:// or https:// URL",
        ),
        (
            {"DATABASE_URL": "sqlite:///x.db", "BETTER_AUTH_JWKS_URL": "https://a.example.com/j"},
            "BETTER_AUTH_JWKS_URL needs BETTER_AUTH_URL (or JWT_ISSUER and JWT_AUDIENCE)",
        ),
        (
            {"DATABASE_URL": "sqlite:///x.db", "JWT_ALGORITHMS": "EdDSA,HS256"},
            "JWT_ALGORITHMS: must be some of EdDSA, ES256, ES512, RS256, PS256",
        ),
        (
            {"DATABASE_URL": "sqlite:///x.db", "BETTER_AUTH_SECRET": "short"},
            "at least 32 characters",
        ),
        ({"DATABASE_URL": "mysql://u@h/db", "BETTER_AUTH_SECRET": SECRET}, "PostgreSQL or SQLite"),
    ],
)
def test_serve_refuses_to_start_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [TODO_API, "serve"],
        env=clean_env(**env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("todo-api: configuration error:")
    assert expected in lines[0]
    assert "short" not in lines[0].split(":", 2)[2].replace("shorter", "")


def test_serve_with_only_better_auth_url_starts_and_warns_when_its_keys_are_unreachable(
    tmp_path: Path,
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'todo.db'}", BETTER_AUTH_URL=unreachable)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path) as process:
        wait_until_up(base, process)
        assert httpx.get(f"{base}/health").status_code == 200
        process.terminate()
        output, _ = process.communicate(timeout=30)
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    assert any(
        "Better Auth keys (JWKS) not reachable at start" in line
        and f"{unreachable}/api/auth/jwks" in line
        for line in warnings
    ), output


def test_migrate_then_serve_as_an_operator_would(database_url: str, tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL=database_url,
        BETTER_AUTH_SECRET=SECRET,
        ALLOWED_ORIGINS="http://localhost:3000",
    )
    migrate = subprocess.run(
        [TODO_API, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    token = cli_token("operator", env, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path) as process:
        wait_until_up(base, process)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/operator/tasks", json={"title": "from the CLI"}, headers=headers
        )
        assert created.status_code == 201
        listed = httpx.get(f"{base}/api/operator/tasks", headers=headers)
        assert [task["title"] for task in listed.json()] == ["from the CLI"]
        assert "server" not in listed.headers
        httpx.delete(f"{base}/api/operator/tasks/{created.json()['id']}", headers=headers)
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert token not in output and SECRET not in output
    assert "method=GET route=/api/{user_id}/tasks status=200" in output


def test_dev_mode_needs_nothing_and_its_curl_line_works(tmp_path: Path) -> None:
    port = free_port()
    with running(["dev", "--port", str(port)], clean_env(), tmp_path) as process:
        assert process.stdout is not None
        curl_line = ""
        deadline = time.monotonic() + 60
        while not curl_line and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.strip().startswith("curl "):
                curl_line = line.strip()
        assert curl_line, "dev mode printed no curl line"
        wait_until_up(f"http://127.0.0.1:{port}", process)
        result = subprocess.run(
            [*shlex.split(curl_line), "-s", "-w", "\n%{http_code}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    body, status = result.stdout.rsplit("\n", 1)
    assert (status, body) == ("200", "[]")
    assert (tmp_path / ".todo-dev" / "todo.db").exists()
    assert (tmp_path / ".todo-dev" / "secret").stat().st_mode & 0o077 == 0


def test_token_command_mints_a_token_the_service_accepts(tmp_path: Path) -> None:
    import jwt

    result = subprocess.run(
        [TODO_API, "token", "alice", "--minutes", "5"],
        env=clean_env(BETTER_AUTH_SECRET=SECRET),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert 0 < claims["exp"] - time.time() <= 300


def test_request_heads_are_bounded_by_the_server(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}", BETTER_AUTH_SECRET=SECRET)
    subprocess.run([TODO_API, "migrate"], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], env, tmp_path) as process:
        wait_until_up(base, process)
        token = {"Authorization": f"Bearer {make_token('alice')}"}
        normal = httpx.get(f"{base}/api/alice/tasks", headers={**token, "X-Pad": "a" * 8_000})
        assert normal.status_code == 200
        # A body larger than the head limit, in the same packets as the head, is not a big head.
        body = {"title": "x", "description": "d" * 1000}
        with_body = httpx.post(
            f"{base}/api/alice/tasks", json=body, headers={**token, "X-Pad": "a" * 31_000}
        )
        assert with_body.status_code == 201
        huge = httpx.get(f"{base}/api/alice/tasks", headers={**token, "X-Pad": "a" * 40_000})
        assert huge.status_code == 431
        assert huge.json() == {
            "detail": "Request headers are too large",
            "error_code": "HEADERS_TOO_LARGE",
        }
        # The server is still serving afterwards.
        assert httpx.get(f"{base}/api/alice/tasks", headers=token).status_code == 200


@only_with_postgresql
def test_serve_logs_the_database_url_with_its_password_hidden(tmp_path: Path) -> None:
    # The local server trusts every connection, so any password will do.
    url = POSTGRES_URL.set(drivername="postgresql", password="s3cret-pw")
    env = clean_env(
        DATABASE_URL=url.render_as_string(hide_password=False),
        DATABASE_DIRECT_URL=url.render_as_string(hide_password=False),
        BETTER_AUTH_SECRET=SECRET,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], env, tmp_path) as process:
        wait_until_up(base, process)
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "s3cret-pw" not in output
    [line] = [line for line in output.splitlines() if " database " in line]
    assert line.endswith(f" database {url.render_as_string(hide_password=True)}")
    assert f"@{url.host}" in line and f"/{url.database}" in line
    [line] = [line for line in output.splitlines() if "listening for changes on" in line]
    assert line.endswith(f" on {url.render_as_string(hide_password=True)}")


def test_the_header_timeout_reaches_every_worker(tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
        BETTER_AUTH_SECRET=SECRET,
        HEADER_TIMEOUT_SECONDS="1",
    )
    port = free_port()
    with running(["serve", "--port", str(port), "--workers", "2"], env, tmp_path) as process:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        silent = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(8)]
        started = time.monotonic()
        for sock in silent:
            with sock:
                assert sock.recv(1) == b""
        # Loose, but well below the default of 10 s that a worker without the setting would use.
        assert time.monotonic() - started < 6


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn's supervisor started (multiprocessing's own resource
    tracker is a child too)."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        children = [int(child) for child in listing.read().split()]
    return [
        child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.parametrize(("variable", "argument", "expected"), [("2", None, 2), ("2", "1", 1)])
def test_web_concurrency_sets_the_workers_unless_the_flag_does(
    tmp_path: Path, variable: str, argument: str | None, expected: int
) -> None:
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
        BETTER_AUTH_SECRET=SECRET,
        WEB_CONCURRENCY=variable,
    )
    port = free_port()
    flag = [] if argument is None else ["--workers", argument]
    with running(["serve", "--port", str(port), *flag], env, tmp_path) as process:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        # One process serves alone; with more, a supervisor starts that many.
        workers = _workers(process.pid) if expected > 1 else [process.pid]
        assert len(workers) == expected


def test_dev_with_its_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [TODO_API, "dev", "--port", str(port)],
            env=clean_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.strip().splitlines() == [
        f"todo-api: port {port} is in use; pick another with --port {port + 1} or PORT={port + 1}"
    ]
    assert "token" not in output and "eyJ" not in output


def test_dev_and_token_read_the_same_dotenv(tmp_path: Path) -> None:
    database = tmp_path / "from-dotenv.db"
    (tmp_path / ".env").write_text(
        f"BETTER_AUTH_SECRET={SECRET}\nDATABASE_URL=sqlite:///{database}\n"
    )
    env = clean_env()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["dev", "--port", str(port)], env, tmp_path) as process:
        wait_until_up(base, process)
        token = cli_token("alice", env, tmp_path)
        listed = httpx.get(f"{base}/api/alice/tasks", headers={"Authorization": f"Bearer {token}"})
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert listed.status_code == 200, listed.text
    assert f"database   sqlite:///{database}" in output
    assert database.exists()
    assert not (tmp_path / ".todo-dev").exists()
