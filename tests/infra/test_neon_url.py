"""A database URL exactly as Neon's console prints it (`sslmode=require&channel_binding=require`,
a SCRAM password with characters that need escaping) works against a PostgreSQL that has SSL on
and SCRAM-SHA-256 authentication; without SSL on the server it fails at once, clearly."""

import subprocess

import httpx
import psycopg
import pytest

from tests.conftest import auth
from tests.infra.conftest import Infra
from tests.infra.postgres import PasswordUser
from tests.serving import TODO_API, clean_env

pytestmark = pytest.mark.infra


def migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TODO_API, "migrate"],
        env=clean_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_neon_url_with_ssl_and_scram_migrates_and_serves(infra: Infra) -> None:
    user = PasswordUser()
    cluster = infra.cluster(ssl=True, password_user=user)
    url = cluster.neon_url()
    assert "sslmode=require" in url and "channel_binding=require" in url

    result = migrate(url)
    assert result.returncode == 0, result.stderr
    assert user.password not in result.stdout + result.stderr

    service = infra.service(url)
    with httpx.Client(base_url=service.url, headers=auth("neo"), timeout=30) as client:
        created = client.post("/api/neo/tasks", json={"title": "over TLS"})
        assert created.status_code == 201, created.text
        path = f"/api/neo/tasks/{created.json()['id']}"
        assert client.put(path, json={"title": "still TLS"}).json()["title"] == "still TLS"
        assert client.patch(f"{path}/complete").json()["completed"] is True
        assert [task["title"] for task in client.get("/api/neo/tasks").json()] == ["still TLS"]
        assert client.delete(path).status_code == 204
        assert client.get("/health/ready").status_code == 200

    with psycopg.connect(cluster.url()) as admin:
        sessions = admin.execute(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
            " WHERE a.usename = %s",
            (user.name,),
        ).fetchall()
    assert sessions and all(ssl for (ssl,) in sessions)
    assert user.password not in service.log()


def test_neon_url_without_ssl_on_the_server_fails_at_once_and_clearly(infra: Infra) -> None:
    user = PasswordUser()
    cluster = infra.cluster(ssl=False, password_user=user)
    url = cluster.neon_url()

    result = migrate(url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SSL" in lines[0] and user.password not in lines[0]

    # Not worth retrying: answered at once, not after DB_CONNECT_RETRY_SECONDS.
    service = infra.service(url, DB_CONNECT_RETRY_SECONDS="20")
    with httpx.Client(base_url=service.url, headers=auth("neo"), timeout=30) as client:
        for path in ("/api/neo/tasks", "/health/ready"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.json() == {
                "detail": "The database is unavailable; try again shortly",
                "error_code": "DATABASE_UNAVAILABLE",
            }
            assert response.elapsed.total_seconds() < 5
    assert "does not support SSL" in service.log()
