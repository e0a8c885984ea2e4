"""The `todo-api` command: serve, dev, migrate, token, openapi."""

import argparse
import contextlib
import errno
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import uvicorn
from sqlalchemy.exc import OperationalError
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from todo_api import devmode
from todo_api.auth.tokens import mint_token
from todo_api.core.log import configure_logging
from todo_api.core.metrics import MULTIPROCESS_ENV
from todo_api.core.migrate import upgrade
from todo_api.core.protocol import ServerConfig
from todo_api.core.settings import ConfigError, Settings, load_settings

logger = logging.getLogger(__name__)

UVICORN_OPTIONS: dict[str, object] = {
    "log_config": None,  # ours, set by configure_logging
    "access_log": False,  # one line per request comes from RequestContextMiddleware
    "server_header": False,
    # The service never uses the client's address, so uvicorn need not rewrite it per request.
    "proxy_headers": False,
    "timeout_graceful_shutdown": 20,
}


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except ConfigError as exc:
        sys.exit(f"todo-api: configuration error: {exc}")
    except OperationalError as exc:
        # `migrate` cannot reach the database: the driver's first line says why (refused, SSL
        # required but not offered, a wrong password), never the password itself.
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "unknown"
        sys.exit(f"todo-api: cannot use the database: {reason}")


def _serve(args: argparse.Namespace) -> None:
    settings = load_settings()
    settings.require_production()
    sock = _listen(args.host, args.port or settings.port)
    configure_logging(settings.log_level)
    logger.info("database %s", settings.database.redacted())
    if settings.direct_database is not None:
        logger.info("listening for changes on %s", settings.direct_database.redacted())
    workers = args.workers or settings.web_concurrency
    if workers > 1 and settings.metrics_enabled and not os.environ.get(MULTIPROCESS_ENV):
        # Workers share their metrics through files, so a scrape of any one sees them all.
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="todo-api-metrics-")
    app = "todo_api.app:create_app_from_environment"
    _run(_server_config(app, settings, sock, factory=True, workers=workers), sock)


def _dev(args: argparse.Namespace) -> None:
    from todo_api.app import create_app

    settings = devmode.dev_settings()
    port = args.port or settings.port
    sock = _listen("127.0.0.1", port)
    configure_logging(settings.log_level)
    upgrade(settings.database)
    print(devmode.banner(settings, "127.0.0.1", port), flush=True)
    # One process whatever WEB_CONCURRENCY says: the app is an object, not an import string.
    _run(_server_config(create_app(settings), settings, sock, workers=1), sock)


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here rather than by uvicorn, so that a port in use is one line
    saying so, before anything (dev mode's banner) claims the server is up."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else port - 1
            sys.exit(
                f"todo-api: port {port} is in use; pick another with --port {other} or PORT={other}"
            )
        sys.exit(f"todo-api: cannot listen on {host} port {port}: {exc.strerror}")
    return sock


def _server_config(
    app: Any, settings: Settings, sock: socket.socket, **options: Any
) -> ServerConfig:
    host, port = sock.getsockname()[:2]
    return ServerConfig(
        app,
        host=host,
        port=port,
        max_head_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout_seconds,
        **UVICORN_OPTIONS,
        **options,
    )


def _run(config: ServerConfig, sock: socket.socket) -> None:
    """What `uvicorn.run` does once the socket is bound; `uvicorn.run` itself would build a
    Config of its own, without the protocol's limits."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    # uvicorn prints its own "running on" line only when it binds the socket itself.
    logger.info("listening on http://%s:%d", host, config.port)
    if config.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    # Ctrl-C: uvicorn shuts down gracefully, then raises SIGINT again, as KeyboardInterrupt here.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _migrate(_: argparse.Namespace) -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    upgrade(settings.database)
    print(f"todo-api: database is at the latest schema ({settings.database.redacted()})")


def _token(args: argparse.Namespace) -> None:
    settings = load_settings()
    if settings.better_auth_secret is not None:
        secret = settings.better_auth_secret.get_secret_value()
    elif devmode.SECRET_FILE.exists():
        secret = devmode.dev_secret()
    else:
        raise ConfigError("BETTER_AUTH_SECRET is not set, and no development secret exists yet")
    print(mint_token(secret, args.user_id, timedelta(minutes=args.minutes)))


def _openapi(args: argparse.Namespace) -> None:
    from todo_api.openapi import openapi_json

    text = openapi_json()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run in production (needs configuration)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="default 127.0.0.1; 0.0.0.0 in a container"
    )
    serve.add_argument("--port", type=int, help="default: $PORT, else 8000")
    serve.add_argument(
        "--workers",
        type=int,
        help="processes, one per core is best; default: $WEB_CONCURRENCY, else 1",
    )
    serve.set_defaults(run=_serve)

    dev = commands.add_parser("dev", help="run locally with no configuration (SQLite)")
    dev.add_argument("--port", type=int, help="default: $PORT, else 8000")
    dev.set_defaults(run=_dev)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)

    token = commands.add_parser("token", help="mint a development token for USER_ID")
    token.add_argument("user_id")
    token.add_argument("--minutes", type=int, default=60, help="lifetime, default 60")
    token.set_defaults(run=_token)

    openapi = commands.add_parser("openapi", help="print the OpenAPI schema")
    openapi.add_argument("--output", help="write to this file instead")
    openapi.set_defaults(run=_openapi)
    return parser
