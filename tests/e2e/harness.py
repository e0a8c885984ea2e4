"""Real processes for the end-to-end tests: Better Auth (node, tests/e2e/node/auth-server.mjs),
our service (`todo-api serve`, real uvicorn), and headless Chromium (tests/e2e/node/browser.mjs).

Everything binds to 127.0.0.1. When node, the npm modules or Chromium are missing, the tests
fail with the command that fixes it: they never skip (they only run when E2E=1 asks for them).
"""

import json
import os
import selectors
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import free_port, stop

NODE_DIR = Path(__file__).resolve().parent / "node"
STATIC_DIR = NODE_DIR / "static"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
BETTER_AUTH_VERSION = "1.7.25"
# Better Auth's own secret: signs its session cookies (and the HS256 cookie-cache token).
AUTH_SECRET = "e2e-better-auth-secret-0123456789-abcdefghijklmnop"
PASSWORD = "correct-horse-battery-staple"
SESSION_CACHE_COOKIE = "better-auth.session_data"


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not installed: the end-to-end tests need Node.js 20 or later")
    return path


def require_npm_modules() -> None:
    package = NODE_DIR / "node_modules" / "better-auth" / "package.json"
    playwright = NODE_DIR / "node_modules" / "playwright-core" / "package.json"
    if not package.exists() or not playwright.exists():
        pytest.fail(f"npm modules missing: run `npm ci` in {NODE_DIR}")
    version = json.loads(package.read_text())["version"]
    if version != BETTER_AUTH_VERSION:
        pytest.fail(f"better-auth {version} installed, {BETTER_AUTH_VERSION} expected: npm ci")


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get update && apt-get install -y chromium")


@dataclass
class User:
    """Someone signed up with Better Auth, with their session cookies."""

    id: str
    token: str  # from GET /api/auth/token: the JWT plugin's token
    session: httpx.Client
    session_cache: str | None  # the `better-auth.session_data` cookie, when the cache is on

    def jwt_from_get_session(self) -> str:
        """The same kind of JWT, from the `set-auth-jwt` header of GET /api/auth/get-session."""
        response = self.session.get("/api/auth/get-session")
        assert response.status_code == 200, response.text
        return response.headers["set-auth-jwt"]


@dataclass
class AuthServer:
    """tests/e2e/node/auth-server.mjs: a real Better Auth with the JWT plugin, memory storage."""

    log_dir: Path
    jwt_alg: str = "EdDSA"
    cookie_cache: str = "off"
    static: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AuthServer":
        require_npm_modules()
        env = {
            **os.environ,
            "PORT": str(self.port),
            "BETTER_AUTH_SECRET": AUTH_SECRET,
            "JWT_ALG": self.jwt_alg,
            "COOKIE_CACHE": self.cookie_cache,
        }
        if self.static:
            env["STATIC_DIR"] = str(STATIC_DIR)
        log = (self.log_dir / f"auth-server-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [node(), "auth-server.mjs"], cwd=NODE_DIR, env=env, stdout=subprocess.PIPE, stderr=log
        )
        log.close()
        line = self._first_line(timeout=30)
        if line != f"READY {self.url}":
            self.stop()
            pytest.fail(f"auth-server did not start: {line!r}; log: {self.log()}")
        return self

    def _first_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        output = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in output and time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    break
                output += chunk
        selector.close()
        return output.split(b"\n")[0].decode(errors="replace")

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        if self.process is not None:
            stop(self.process)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def restart(self) -> None:
        """Same port and settings; memory storage, so new users and a new signing key."""
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.log_dir / f"auth-server-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def jwks(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/api/auth/jwks", timeout=10).json()
        return result

    def sign_up(self, name: str) -> User:
        """Sign up by Better Auth's HTTP API, as a browser on its origin does, then get the JWT."""
        session = httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=30)
        self.clients.append(session)
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        response = session.post(
            "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": name}
        )
        assert response.status_code == 200, response.text
        user_id = response.json()["user"]["id"]
        session_cache = session.cookies.get(SESSION_CACHE_COOKIE)
        token = session.get("/api/auth/token")
        assert token.status_code == 200, token.text
        return User(
            id=user_id, token=token.json()["token"], session=session, session_cache=session_cache
        )


def run_browser(page_url: str, api_url: str, *, expect_blocked: bool = False) -> dict[str, Any]:
    """tests/e2e/node/browser.mjs: headless Chromium opens the page, which calls our API."""
    require_npm_modules()
    require_chromium()
    env = {
        **os.environ,
        "PAGE_URL": page_url,
        "API_URL": api_url,
        "EXPECT_BLOCKED": "1" if expect_blocked else "0",
        "CHROMIUM_PATH": str(CHROMIUM),
        "TIMEOUT_MS": "90000",
    }
    result = subprocess.run(
        [node(), "browser.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"browser.mjs printed nothing (exit {result.returncode}): {result.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    report["exit_code"] = result.returncode
    report["stderr"] = result.stderr
    return report
