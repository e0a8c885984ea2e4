"""The service under real faults of its database, as Neon and operators cause them: an outage
under load, a cold start (the database accepts connections only seconds after the first
requests), a statement stuck behind a lock, and a SIGTERM during load. Each runs `todo-api serve`
against a private PostgreSQL cluster that the test stops and starts."""

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import auth
from tests.infra.conftest import Infra
from tests.infra.postgres import PostgresCluster
from tests.infra.service import Load, Outcome
from todo_api.core.migrate import upgrade
from todo_api.core.settings import DatabaseURL

pytestmark = pytest.mark.infra

UNAVAILABLE = {
    "detail": "The database is unavailable; try again shortly",
    "error_code": "DATABASE_UNAVAILABLE",
}
TIMED_OUT = {
    "detail": "The database took too long to answer; try again shortly",
    "error_code": "DATABASE_TIMEOUT",
}
# Fast-failing settings for the tests; the defaults are longer (see the README).
FAULT_SETTINGS = {
    "DB_CONNECT_RETRY_SECONDS": "2",
    "DB_CONNECT_TIMEOUT_SECONDS": "2",
    "DB_STATEMENT_TIMEOUT_SECONDS": "3",
    "DB_POOL_TIMEOUT_SECONDS": "10",
}


def migrated_cluster(infra: Infra) -> PostgresCluster:
    cluster = infra.cluster()
    upgrade(DatabaseURL.parse(cluster.url()))
    return cluster


def titles_in_database(cluster: PostgresCluster) -> dict[str, int]:
    with psycopg.connect(cluster.url()) as connection:
        rows = connection.execute("SELECT title, count(*) FROM tasks GROUP BY title").fetchall()
    return {title: count for title, count in rows}


def assert_only_success_or_503(outcomes: list[Outcome]) -> None:
    """No 500, no hang, no stack trace: every answer is a success or the documented 503."""
    for outcome in outcomes:
        assert outcome.status is not None, outcome
        assert outcome.seconds < 15, outcome
        if outcome.status >= 300:
            assert outcome.status == 503, outcome
            assert outcome.body in (UNAVAILABLE, TIMED_OUT), outcome


def assert_every_201_stored_once(outcomes: list[Outcome], cluster: PostgresCluster) -> None:
    stored = titles_in_database(cluster)
    created = [o.title for o in outcomes if o.status == 201 and o.title is not None]
    assert created
    assert {title: stored.get(title) for title in created} == dict.fromkeys(created, 1)


def test_database_outage_under_load_gives_503_then_recovers_by_itself(infra: Infra) -> None:
    cluster = migrated_cluster(infra)
    service = infra.service(cluster.url(), **FAULT_SETTINGS)

    with Load(service.url) as load:
        time.sleep(2)
        before = list(load.since(0))
        stopped_at = time.monotonic()
        cluster.stop("fast")  # every session ends, as when Neon restarts a compute
        time.sleep(4)
        ready = httpx.get(f"{service.url}/health/ready", timeout=30)
        down = load.since(stopped_at + 0.5)
        cluster.start()
        started_at = time.monotonic()
        time.sleep(5)
    outcomes = load.outcomes

    after = [outcome for outcome in outcomes if outcome.started >= started_at]
    print(
        f"outage: {len(before)} before, {len(down)} while down "
        f"(slowest {max(o.seconds for o in down):.2f} s), {len(after)} after, of which "
        f"{sum(o.status == 503 for o in after)} were 503"
    )
    assert before and all(outcome.status in (200, 201) for outcome in before)
    assert ready.status_code == 503 and ready.json() == UNAVAILABLE
    assert down and all(outcome.status == 503 for outcome in down if outcome.started < started_at)
    assert_only_success_or_503(outcomes)
    # Recovered with no restart: successes within seconds, then nothing but successes.
    first_success = min(o.started for o in after if o.status in (200, 201)) - started_at
    assert first_success < 3
    settled = [outcome for outcome in after if outcome.started >= started_at + 1.5]
    assert settled and all(outcome.status in (200, 201) for outcome in settled), settled[:5]
    assert httpx.get(f"{service.url}/health/ready", timeout=30).status_code == 200
    assert_every_201_stored_once(outcomes, cluster)
    assert "Traceback" not in service.log()


def test_connections_closed_by_a_restart_while_idle_cost_no_error(infra: Infra) -> None:
    """Neon scales an idle compute to zero, closing every connection the pool holds: the next
    requests must get fresh connections, not errors, and without a round trip per request."""
    cluster = migrated_cluster(infra)
    service = infra.service(cluster.url(), DB_POOL_SIZE="4", DB_MAX_OVERFLOW="0")

    def burst() -> list[int]:
        with ThreadPoolExecutor(4) as pool:
            return list(
                pool.map(
                    lambda _: (
                        httpx.get(
                            f"{service.url}/api/idle/tasks", headers=auth("idle"), timeout=30
                        ).status_code
                    ),
                    range(16),
                )
            )

    assert burst() == [200] * 16  # the pool now holds 4 connections
    cluster.stop("fast")
    cluster.start()
    assert burst() == [200] * 16
    assert "DATABASE_UNAVAILABLE" not in service.log()


def test_cold_start_first_requests_wait_for_the_database(infra: Infra) -> None:
    """Neon waking from zero: the database accepts connections only seconds after the first
    requests arrive; within DB_CONNECT_RETRY_SECONDS they succeed instead of failing."""
    cluster = migrated_cluster(infra)
    cluster.stop()
    service = infra.service(cluster.url(), DB_CONNECT_RETRY_SECONDS="10")
    starter = threading.Timer(3, cluster.start)

    def first_request(number: int) -> tuple[int, Any, float]:
        started = time.monotonic()
        with httpx.Client(base_url=service.url, headers=auth("early"), timeout=30) as client:
            if number % 2:
                response = client.post("/api/early/tasks", json={"title": f"early {number}"})
            else:
                response = client.get("/api/early/tasks")
        return response.status_code, response.json(), time.monotonic() - started

    results: list[tuple[int, Any, float]] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(first_request(n))) for n in range(6)
    ]
    starter.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    starter.join()

    assert len(results) == 6
    assert all(status in (200, 201) for status, _, _ in results), results
    assert all(2.5 < seconds < 10 for _, _, seconds in results), results
    assert sorted(titles_in_database(cluster)) == ["early 1", "early 3", "early 5"]


@pytest.mark.parametrize("through", ["direct", "pgbouncer"])
def test_a_statement_stuck_behind_a_lock_is_cancelled_with_503(infra: Infra, through: str) -> None:
    cluster = migrated_cluster(infra)
    url = cluster.url() if through == "direct" else infra.pgbouncer(cluster).url()
    service = infra.service(url, DB_STATEMENT_TIMEOUT_SECONDS="1", DB_POOL_SIZE="2")
    client = httpx.Client(base_url=service.url, headers=auth("slow"), timeout=30)
    task = client.post("/api/slow/tasks", json={"title": "locked"}).json()
    path = f"/api/slow/tasks/{task['id']}"

    with psycopg.connect(cluster.url()) as locker:
        locker.execute("SELECT * FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
        for method, url, body in (
            ("PUT", path, {"title": "changed"}),
            ("PATCH", f"{path}/complete", None),
            ("DELETE", path, None),
        ):
            started = time.monotonic()
            response = client.request(method, url, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json() == TIMED_OUT
            assert 0.9 < elapsed < 4, elapsed
        # The server no longer runs them: cancelled there, not only abandoned by the client.
        waiting = locker.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
        assert waiting == (0,)
        locker.rollback()

    # Nothing was changed, and the pool is healthy (2 connections, 3 cancelled statements).
    assert client.get(path).json() == task
    for number in range(6):
        assert client.put(path, json={"title": f"free {number}"}).status_code == 200
        assert client.get(path).json()["title"] == f"free {number}"
    assert client.get("/health/ready").status_code == 200
    client.close()


def test_sigterm_finishes_accepted_requests_refuses_new_ones_and_exits(infra: Infra) -> None:
    cluster = migrated_cluster(infra)
    service = infra.service(cluster.url(), DB_STATEMENT_TIMEOUT_SECONDS="20")
    client = httpx.Client(base_url=service.url, headers=auth("term"), timeout=30)
    task = client.post("/api/term/tasks", json={"title": "before"}).json()
    path = f"/api/term/tasks/{task['id']}"
    slow: list[httpx.Response] = []

    with Load(service.url, user="term") as load, psycopg.connect(cluster.url()) as locker:
        time.sleep(1)
        # A request that is surely in flight when SIGTERM comes: its row is locked.
        locker.execute("SELECT * FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
        blocked = threading.Thread(
            target=lambda: slow.append(client.put(path, json={"title": "after", "completed": True}))
        )
        blocked.start()
        time.sleep(0.5)
        signalled_at = time.monotonic()
        service.terminate()
        time.sleep(1)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{service.url}/health", timeout=5)
        locker.rollback()  # the accepted request may now finish
        blocked.join(timeout=30)
        assert service.process is not None
        exit_code = service.process.wait(timeout=25)
        exited_after = time.monotonic() - signalled_at
    client.close()

    # uvicorn re-raises the signal once it has shut down cleanly: "terminated by SIGTERM".
    assert exit_code in (0, -signal.SIGTERM), service.log()
    assert exited_after < 10
    assert [response.status_code for response in slow] == [200]
    assert slow[0].json()["title"] == "after" and slow[0].json()["completed"] is True
    # Under load: successes, or connections refused or closed once shutdown began; never a 5xx.
    for outcome in load.outcomes:
        assert outcome.status in (200, 201) or (
            outcome.status is None and outcome.started > signalled_at - 0.1
        ), outcome
    assert_every_201_stored_once(load.outcomes, cluster)
    with psycopg.connect(cluster.url()) as connection:
        row = connection.execute(
            "SELECT title, completed, updated_at > created_at FROM tasks WHERE id = %s",
            (task["id"],),
        ).fetchone()
    assert row == ("after", True, True)  # the whole update, not a part of it


def test_a_request_that_finds_no_free_connection_waits_then_gets_503(infra: Infra) -> None:
    cluster = migrated_cluster(infra)
    service = infra.service(
        cluster.url(), DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT_SECONDS="1"
    )
    client = httpx.Client(base_url=service.url, headers=auth("busy"), timeout=30)
    task = client.post("/api/busy/tasks", json={"title": "locked"}).json()
    path = f"/api/busy/tasks/{task['id']}"

    with psycopg.connect(cluster.url()) as locker, ThreadPoolExecutor(1) as background:
        locker.execute("SELECT * FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
        # This PUT takes the only connection and waits on the row lock.
        other = httpx.Client(base_url=service.url, headers=auth("busy"), timeout=30)
        stuck = background.submit(other.put, path, json={"title": "after the lock"})
        for _ in range(100):
            count = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            if locker.execute(count).fetchone() == (1,):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the PUT never reached the database")

        started = time.monotonic()
        response = client.get("/api/busy/tasks")
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json() == UNAVAILABLE
        assert 0.9 < elapsed < 5, elapsed

        locker.rollback()
        assert stuck.result(timeout=10).status_code == 200

    # The connection came back: the next requests are served.
    [stored] = client.get("/api/busy/tasks").json()
    assert stored["title"] == "after the lock"
    assert "no database connection free after DB_POOL_TIMEOUT_SECONDS=1" in service.log()
