"""Test fixtures. Every API test runs twice: on SQLite and on a real PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL (default: the local server with trust auth). Each run
(under `make test`, each pytest-xdist worker) creates a database of its own, migrates it once,
and empties every table before every test. When the server cannot be reached the PostgreSQL
half is left out and one test says so as a skip, unless REQUIRE_POSTGRES=1, which stops the run
with that reason instead.
"""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from todo_api.app import create_app
from todo_api.core.migrate import upgrade
from todo_api.core.settings import DatabaseURL, Settings

SECRET = "test-secret-long-enough-for-every-hmac-algorithm-0123456789abcdef"
POSTGRES_URL = make_url(
    os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
).set(drivername="postgresql+psycopg")
# The same server without a pooler in between (tests/infra/behind_pgbouncer.py sets it).
DIRECT_POSTGRES_URL = make_url(
    os.environ.get("TEST_DIRECT_DATABASE_URL", POSTGRES_URL.render_as_string(hide_password=False))
).set(drivername="postgresql+psycopg")
POSTGRES_REQUIRED = os.environ.get("REQUIRE_POSTGRES") == "1"


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for this run, or None when it can."""
    probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            return None
    except OperationalError as exc:
        where = POSTGRES_URL.set(drivername="postgresql").render_as_string(hide_password=True)
        # psycopg's first line ends with the cause: "… port 5432 failed: Connection refused".
        cause = str(exc.orig).splitlines()[0].rsplit("failed: ", 1)[-1]
        return f"PostgreSQL not reachable at {where} ({cause.removeprefix('FATAL:').strip()})"
    finally:
        probe.dispose()


POSTGRES_PROBLEM = _postgres_problem()
BACKENDS = ["sqlite"] if POSTGRES_PROBLEM and not POSTGRES_REQUIRED else ["sqlite", "postgresql"]


def only_with_postgresql(test: Any) -> Any:
    """Leaves `test` out of a run without PostgreSQL: not collected, rather than one more skip
    line each (test_backends.py's one skip says why the PostgreSQL half is missing)."""
    return test if "postgresql" in BACKENDS else None


def postgresql_only(test: Any) -> Any:
    """Runs `test`, which takes `database_url` (through `api` or `settings`), on PostgreSQL
    alone, and leaves it out of a run without PostgreSQL (`only_with_postgresql`)."""
    on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    return only_with_postgresql(on_postgresql(test))


# Tests that need more than Python and a database run only when their variable is 1 (CI sets
# both); a plain run leaves them out and says so in one line each.
OPT_IN = {
    "e2e": ("E2E", "end-to-end tests", "needs node, `npm ci` in tests/e2e/node, and chromium"),
    "infra": ("INFRA", "infrastructure tests", "needs PostgreSQL 15's initdb, pgbouncer and nginx"),
}
_left_out: dict[str, int] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {name for name, (variable, *_) in OPT_IN.items() if os.environ.get(variable) == "1"}
    kept, dropped = [], []
    for item in items:
        marker = next((name for name in OPT_IN if item.get_closest_marker(name)), None)
        if marker is None or marker in wanted:
            kept.append(item)
        else:
            dropped.append(item)
            _left_out[marker] = _left_out.get(marker, 0) + 1
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    if hasattr(config, "workerinput"):
        items[:] = _slow_first(items)


def _slow_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """Under pytest-xdist, tests marked `slow` (most of their time spent waiting on the clock)
    start first within their stretch of one database, so that the run does not end waiting
    for one; otherwise pytest's order stays, each database's tests together."""

    def database(item: pytest.Item) -> object:
        callspec = getattr(item, "callspec", None)
        return callspec.params.get("database_url") if callspec is not None else None

    stretches: list[list[pytest.Item]] = []
    for item in items:
        if stretches and database(stretches[-1][-1]) == database(item):
            stretches[-1].append(item)
        else:
            stretches.append([item])
    return [
        item
        for stretch in stretches
        for item in sorted(stretch, key=lambda item: item.get_closest_marker("slow") is None)
    ]


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under pytest-xdist (`make test`) each worker collects, and the controller reports.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["left_out"] = dict(_left_out)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    # Every worker collects the same tests, so any one's counts are the run's.
    _left_out.update(getattr(node, "workeroutput", {}).get("left_out", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for marker, count in _left_out.items():
        variable, what, needs = OPT_IN[marker]
        terminalreporter.write_line(
            f"{marker}: {count} {what} left out; {variable}=1 runs them ({needs})"
        )


def pytest_sessionstart(session: pytest.Session) -> None:
    if POSTGRES_PROBLEM and POSTGRES_REQUIRED:
        pytest.exit(f"{POSTGRES_PROBLEM}, and REQUIRE_POSTGRES=1", returncode=1)


def make_token(
    user_id: str | None = "alice",
    *,
    secret: str = SECRET,
    algorithm: str = "HS256",
    lifetime: timedelta = timedelta(minutes=5),
    **claims: Any,
) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {"iat": now, "exp": now + lifetime}
    if user_id is not None:
        payload["sub"] = user_id
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm=algorithm)


def auth(user_id: str = "alice", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user_id, **claims)}"}


@dataclass
class Api:
    """A running app on one database: its HTTP client and a direct line to its tables."""

    client: TestClient
    engine: Engine
    backend: str

    def create(self, user_id: str = "alice", title: str = "Buy milk", **body: Any) -> Any:
        response = self.client.post(
            f"/api/{user_id}/tasks", json={"title": title, **body}, headers=auth(user_id)
        )
        assert response.status_code == 201, response.text
        return response.json()

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            result = connection.execute(text("SELECT * FROM tasks ORDER BY id"))
            return [dict(row) for row in result.mappings()]


def direct_engine(database: DatabaseURL) -> Engine:
    """An engine for a test's own look at the tables. Without server-side prepared statements,
    as the service runs: CI runs the PostgreSQL half through PgBouncer in transaction mode,
    where a statement prepared on one server connection is missing on the next."""
    return create_engine(
        database.sync_url, connect_args={} if database.is_sqlite else {"prepare_threshold": None}
    )


def new_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    admin = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
        # A server whose zone is not UTC (and not a whole hour off): answers must still be UTC.
        connection.execute(text(f"ALTER DATABASE \"{name}\" SET TimeZone = 'Asia/Kolkata'"))
    try:
        yield POSTGRES_URL.set(database=name, drivername="postgresql").render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'todo.db'}"
        return
    yield from new_postgres_database()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    settings = Settings(
        database_url=database_url,
        better_auth_secret=SECRET,
        allowed_origins=["http://localhost:3000", "http://127.0.0.1:3000"],
        _env_file=None,
    )
    upgrade(settings.database)
    return settings


@pytest.fixture(scope="session")
def running_api(settings: Settings) -> Iterator[Api]:
    database: DatabaseURL = settings.database
    engine = direct_engine(database)
    backend = "sqlite" if database.is_sqlite else "postgresql"
    with TestClient(create_app(settings)) as client:
        yield Api(client=client, engine=engine, backend=backend)
    engine.dispose()


@pytest.fixture
def api(running_api: Api) -> Api:
    """The running app with every table empty."""
    with running_api.engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            # SQLite's write clock (`models.SyncClock`) only counts on; PostgreSQL has none.
            if not table.info.get("sqlite_only"):
                connection.execute(table.delete())
    return running_api


@pytest.fixture
def client(api: Api) -> TestClient:
    return api.client


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
