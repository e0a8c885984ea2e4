"""Through PgBouncer in transaction mode (Neon's pooled URL is one): the same statements many
times over many connections, no prepared-statement errors, and no session state left behind on
the server connections that other clients get next. (CI also runs the whole PostgreSQL half of
the suite through PgBouncer: tests/infra/behind_pgbouncer.py.)"""

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tests.conftest import auth
from tests.infra.conftest import Infra
from tests.infra.postgres import PgBouncer
from todo_api.core.migrate import upgrade
from todo_api.core.settings import DatabaseURL

pytestmark = pytest.mark.infra

ROUNDS = 12  # more than psycopg's prepare_threshold (5): a prepared statement would be made


def crud_rounds(base_url: str, user: str) -> list[int]:
    """Every endpoint ROUNDS times for one user; the statuses of all answers."""
    statuses = []
    with httpx.Client(base_url=base_url, headers=auth(user), timeout=30) as client:
        for round_ in range(ROUNDS):
            created = client.post(f"/api/{user}/tasks", json={"title": f"round {round_}"})
            statuses.append(created.status_code)
            if created.status_code != 201:
                continue
            path = f"/api/{user}/tasks/{created.json()['id']}"
            statuses += [
                client.get(f"/api/{user}/tasks").status_code,
                client.get(path).status_code,
                client.put(path, json={"title": f"round {round_}, again"}).status_code,
                client.patch(f"{path}/complete").status_code,
                client.delete(path).status_code if round_ % 2 else 200,
            ]
    return statuses


def run_concurrently(base_url: str, users: int = 8) -> list[int]:
    with ThreadPoolExecutor(users) as pool:
        results = pool.map(crud_rounds, [base_url] * users, [f"user{n}" for n in range(users)])
    return [status for statuses in results for status in statuses]


def server_connection_states(bouncer: PgBouncer, clients: int = 20) -> list[tuple[int, int, int]]:
    """For as many server connections as PgBouncer's pool holds: the prepared statements, the
    settings changed by a session, and the advisory locks each one carries. Each client holds a
    transaction open, so PgBouncer must give every one of them a server connection of its own."""
    connections = [psycopg.connect(bouncer.url(), prepare_threshold=None) for _ in range(clients)]
    try:
        states = []
        for connection in connections:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM pg_prepared_statements),"
                " (SELECT count(*) FROM pg_settings WHERE source = 'session'),"
                " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')"
            ).fetchone()
            assert row is not None
            states.append((int(row[0]), int(row[1]), int(row[2])))
        return states
    finally:
        for connection in connections:
            connection.close()


def test_every_endpoint_many_times_through_pgbouncer_leaves_no_session_state(
    infra: Infra,
) -> None:
    cluster = infra.cluster()
    bouncer = infra.pgbouncer(cluster)
    upgrade(DatabaseURL.parse(bouncer.url()))  # the migrations run through it too
    service = infra.service(bouncer.url(), DB_POOL_SIZE="6", DB_MAX_OVERFLOW="4")

    statuses = run_concurrently(service.url)

    assert statuses and all(200 <= status < 300 for status in statuses), sorted(set(statuses))
    assert len(statuses) >= 8 * ROUNDS * 6
    assert server_connection_states(bouncer) == [(0, 0, 0)] * 20


def test_prepared_statements_on_break_behind_pgbouncer_1_18(infra: Infra) -> None:
    """Why DB_PREPARED_STATEMENTS is off by default: the same load with it on fails."""
    cluster = infra.cluster()
    bouncer = infra.pgbouncer(cluster)
    upgrade(DatabaseURL.parse(bouncer.url()))
    service = infra.service(bouncer.url(), DB_PREPARED_STATEMENTS="true", DB_POOL_SIZE="6")

    statuses = run_concurrently(service.url)

    assert any(status >= 500 for status in statuses)
    assert "prepared statement" in service.log()
