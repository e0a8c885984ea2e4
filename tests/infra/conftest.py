"""Infrastructure tests (marker `infra`): private PostgreSQL clusters and PgBouncer started by the
tests, stopped, restarted and delayed under a running service.

They need PostgreSQL 15's server programs, pgbouncer and nginx, so a plain `make test` leaves
them out (one line at the end says so); `INFRA=1 make test` runs them, and then a missing program
is a failure, never a skip. CI (.ci/run) installs them and sets INFRA=1.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET
from tests.infra.nginx import Nginx
from tests.infra.postgres import PasswordUser, PgBouncer, PostgresCluster
from tests.serving import Service


class Infra:
    """What one test started; everything is stopped at its end, logs printed if it failed."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[PostgresCluster | PgBouncer | Service | Nginx] = []

    def cluster(
        self, *, ssl: bool = False, password_user: PasswordUser | None = None, start: bool = True
    ) -> PostgresCluster:
        cluster = PostgresCluster(ssl=ssl, password_user=password_user)
        self.started.append(cluster)
        cluster.init()
        if start:
            cluster.start()
            if password_user is not None:
                cluster.create_password_user()
        return cluster

    def pgbouncer(self, upstream: PostgresCluster) -> PgBouncer:
        bouncer = PgBouncer(upstream_port=upstream.port)
        self.started.append(bouncer)
        return bouncer.start()

    def nginx(self, upstream_ports: list[int]) -> Nginx:
        balancer = Nginx(upstream_ports)
        self.started.append(balancer)
        return balancer.start()

    def service(self, database_url: str, **settings: str) -> Service:
        service = Service(
            self.log_dir,
            {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET, **settings},
        )
        self.started.append(service)
        return service.start()

    def close(self) -> None:
        for thing in reversed(self.started):
            thing.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- {type(thing).__name__} ---\n{thing.log()[-6000:]}" for thing in self.started
        )


@pytest.fixture
def infra(tmp_path: Path) -> Iterator[Infra]:
    started = Infra(tmp_path)
    try:
        yield started
    finally:
        print(started.logs())
        started.close()
