"""The `todo-api` command: serve, dev, migrate, token, openapi."""

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta

import uvicorn
from sqlalchemy.exc import OperationalError

from todo_api import devmode
from todo_api.auth.tokens import mint_token
from todo_api.log import configure_logging
from todo_api.metrics import MULTIPROCESS_ENV
from todo_api.migrate import upgrade
from todo_api.protocol import BoundedHeadHttpToolsProtocol
from todo_api.settings import ConfigError, load_settings

UVICORN_OPTIONS: dict[str, object] = {
    "log_config": None,  # ours, set by configure_logging
    "access_log": False,  # one line per request comes from RequestContextMiddleware
    "server_header": False,
    "http": BoundedHeadHttpToolsProtocol,  # httptools, with a bound on request heads
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
    configure_logging(settings.log_level)
    if args.workers > 1 and settings.metrics_enabled and not os.environ.get(MULTIPROCESS_ENV):
        # Workers share their metrics through files, so a scrape of any one sees them all.
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="todo-api-metrics-")
    uvicorn.run(
        "todo_api.app:create_app_from_environment",
        factory=True,
        host=args.host,
        port=args.port or settings.port,
        workers=args.workers,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
    )


def _dev(args: argparse.Namespace) -> None:
    from todo_api.app import create_app

    settings = devmode.dev_settings()
    configure_logging(settings.log_level)
    upgrade(settings.database)
    port = args.port or settings.port
    print(devmode.banner(settings, "127.0.0.1", port), flush=True)
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
    )


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
    serve.add_argument("--workers", type=int, default=1, help="processes; one per core is best")
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
