"""Prometheus metrics, and the hooks that feed them.

With several worker processes, set PROMETHEUS_MULTIPROC_DIR to an empty directory (`todo-api
serve --workers N` does it for you) so that every scrape adds up all workers.
"""

import hmac
import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "todo_api_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "todo_api_request_duration_seconds",
    "Time from request to answer",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30),
)
DB_IN_USE = Gauge(
    "todo_api_db_connections_in_use", "Pooled connections checked out", multiprocess_mode="livesum"
)
DB_WAITING = Gauge(
    "todo_api_db_connections_waiting",
    "Requests waiting for a pooled connection",
    multiprocess_mode="livesum",
)
JWKS_REFRESHES = Counter(
    "todo_api_jwks_refreshes_total", "Fetches of Better Auth's JWKS", ["outcome"]
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def track_pool(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "checkout", lambda *_: DB_IN_USE.inc())
    event.listen(engine.sync_engine, "checkin", lambda *_: DB_IN_USE.dec())


def authorized(header: str | None, token: str | None) -> bool:
    if token is None:
        return True
    expected = f"Bearer {token}".encode()
    return header is not None and hmac.compare_digest(header.encode(), expected)


def exposition() -> bytes:
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
