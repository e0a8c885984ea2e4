"""How PostgreSQL connections are made (no server needed): Neon's URL parameters reach libpq,
prepared statements are off unless asked for, and connecting retries only what waiting cures.
The behaviour against real servers is in tests/infra/."""

import asyncio
import time

import psycopg
import pytest

from tests.serving import free_port
from todo_api.core.database import (
    PostgresConnector,
    StatementTimeout,
    _connect_kwargs,
    _worth_retrying,
)
from todo_api.core.settings import Settings

NEON = (
    "postgresql://alex:p%40ss%2Fw%3Ard@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech"
    "/neondb?sslmode=require&channel_binding=require"
)


def connector(url: str = NEON, **settings: object) -> PostgresConnector:
    values = Settings(database_url=url, _env_file=None, **settings)  # type: ignore[arg-type]
    return PostgresConnector(values.database.async_url, values)


def test_neon_url_reaches_libpq_unchanged() -> None:
    kwargs = _connect_kwargs(Settings(database_url=NEON, _env_file=None).database.async_url)
    assert kwargs == {
        "host": "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech",
        "user": "alex",
        "password": "p@ss/w:rd",
        "dbname": "neondb",
        "sslmode": "require",
        "channel_binding": "require",
    }


def test_prepared_statements_are_off_unless_enabled() -> None:
    assert connector()._kwargs["prepare_threshold"] is None
    assert "prepare_threshold" not in connector(db_prepared_statements=True)._kwargs


def test_statement_timeout_cursor_only_when_a_timeout_is_set() -> None:
    assert issubclass(connector()._kwargs["cursor_factory"], psycopg.AsyncCursor)
    assert "cursor_factory" not in connector(db_statement_timeout_seconds=0)._kwargs
    assert issubclass(StatementTimeout, psycopg.errors.QueryCanceled)  # SQLSTATE 57014


@pytest.mark.parametrize(
    ("reason", "retry"),
    [
        ('connection to server at "h", port 5432 failed: Connection refused', True),
        ("connection to server at h failed: FATAL:  the database system is starting up", True),
        ("connection failed: connection timeout expired", True),
        ("FATAL:  sorry, too many clients already", True),
        ('FATAL:  password authentication failed for user "alex"', False),
        ('FATAL:  database "nope" does not exist', False),
        ("server does not support SSL, but SSL was required", False),
        ("channel binding required, but SSL not in use", False),
    ],
)
def test_only_failures_that_waiting_cures_are_retried(reason: str, retry: bool) -> None:
    assert _worth_retrying(reason) is retry


def test_a_refused_connection_is_retried_for_the_budget_then_fails_fast() -> None:
    nobody = connector(
        f"postgresql://postgres@127.0.0.1:{free_port()}/db", db_connect_retry_seconds=1
    )

    async def attempt() -> float:
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            await nobody.connect()
        return time.monotonic() - started

    assert 0.6 < asyncio.run(attempt()) < 2
    # The budget is spent: until a connection succeeds, the next ones are tried once each.
    assert asyncio.run(attempt()) < 0.5
