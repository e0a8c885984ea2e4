"""Applies the schema migrations (Alembic) to the configured database."""

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from todo_api.core.settings import DatabaseURL

SCRIPT_LOCATION = "todo_api:migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade(database: DatabaseURL, revision: str = "head") -> None:
    engine = create_engine(database.sync_url, connect_args=_connect_args(database))
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _connect_args(database: DatabaseURL) -> dict[str, int | None]:
    # Neon's pooler (transaction mode) runs DDL fine over a direct or pooled URL alike, but not
    # server-side prepared statements, which psycopg uses for a batch (executemany) by default.
    return {} if database.is_sqlite else {"connect_timeout": 10, "prepare_threshold": None}
