"""Builds the application: settings in, a FastAPI app with its database and token rules out."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from todo_api import __doc__ as description
from todo_api.auth.tokens import TokenVerifier
from todo_api.calendar import routes as calendar
from todo_api.core import metrics
from todo_api.core.database import Database, create_engine
from todo_api.core.errors import install_error_handlers
from todo_api.core.http import add_request_id_headers, operation_id
from todo_api.core.log import configure_logging
from todo_api.core.middleware import (
    BodyLimitMiddleware,
    LastResortMiddleware,
    OriginOnlyCORSMiddleware,
    RequestContextMiddleware,
)
from todo_api.core.settings import Settings, load_settings
from todo_api.mcp import McpEndpoint
from todo_api.ops import health
from todo_api.ops import metrics as metrics_api
from todo_api.quickadd import routes as quickadd
from todo_api.reminders import routes as reminders
from todo_api.sync import changes, events
from todo_api.sync import routes as sync_api
from todo_api.sync.watcher import Watcher
from todo_api.tags import routes as tags
from todo_api.tasks import routes as tasks

API_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    token_verifier = TokenVerifier.from_settings(settings)
    mcp_endpoint = McpEndpoint(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        if settings.metrics_enabled:
            metrics.track_pool(engine)
        app.state.database = database = Database(engine, settings)
        retention = timedelta(days=settings.sync_retention_days)
        app.state.watcher = watcher = Watcher(database, settings)
        try:
            # The JWKS client, when BETTER_AUTH_URL is set; the MCP transport's task group; the
            # hourly purge of old tombstones; the watcher that wakes the event streams.
            async with (
                token_verifier.running(),
                mcp_endpoint.running(),
                changes.purging(database, retention),
                watcher.running(),
            ):
                yield
        finally:
            await engine.dispose()

    # No redirects: a slash-redirect's Location would be built from the request's Host header.
    app = FastAPI(
        title="Todo API",
        version="0.1.0",
        description=description,
        lifespan=lifespan,
        redirect_slashes=False,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.token_verifier = token_verifier
    app.include_router(tasks.router)
    app.include_router(quickadd.router)
    app.include_router(tags.router)
    app.include_router(reminders.router)
    app.include_router(sync_api.router)
    app.include_router(events.router)
    app.include_router(calendar.tasks_ics)
    app.include_router(calendar.feed_address)
    app.include_router(calendar.public)
    app.include_router(health.router)
    mcp_endpoint.mount(app)
    if settings.metrics_enabled:
        app.include_router(metrics_api.router)
    install_error_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_request_id_headers(FastAPI.openapi(app))  # builds and caches it
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

    # Outermost last: the request id reaches every answer, and CORS headers every answer but a
    # refused preflight's, the last-resort 500 included.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(LastResortMiddleware)
    app.add_middleware(
        OriginOnlyCORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=API_METHODS,
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-Match",
            "If-None-Match",
            "X-Request-ID",
            # What a fetch-based EventSource sends to resume /events.
            "Last-Event-ID",
            # What browser-based MCP clients send to /mcp.
            "Mcp-Protocol-Version",
            "Mcp-Session-Id",
        ],
        # WWW-Authenticate: where an MCP client finds how to get a token (RFC 9728).
        expose_headers=[
            "X-Request-ID",
            "Idempotent-Replayed",
            "ETag",
            "Link",
            "WWW-Authenticate",
            quickadd.PARSED_HEADER,
        ],
        allow_credentials=True,
        max_age=600,
    )

    def wake_streams(user_id: str) -> None:
        watcher: Watcher | None = getattr(app.state, "watcher", None)
        if watcher is not None:
            watcher.changed(user_id)

    app.add_middleware(
        RequestContextMiddleware, metrics=settings.metrics_enabled, on_write=wake_streams
    )
    return app


def create_app_from_environment() -> FastAPI:
    """The factory `todo-api serve` hands to uvicorn, once per worker process."""
    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    _tune_garbage_collector()
    return app


def _tune_garbage_collector() -> None:
    """Measured under load (docs/benchmarks.md): with Python's defaults, garbage collection took
    about a seventh of the CPU time, and its full collections (up to 90 ms each) made most of
    the p99 latency."""
    # The objects made at start-up (modules, schemas, compiled statements: about 140,000) live
    # as long as the process; frozen, the collector stops walking them again and again.
    gc.collect()
    gc.freeze()
    # Each request in flight holds a few hundred objects until its answer; with the default
    # threshold (700) the youngest generation was collected every few requests.
    gc.set_threshold(5000)
