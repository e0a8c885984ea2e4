"""The one settings object: environment variables, or a `.env` file in the working directory."""

from functools import cached_property
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MIN_SECRET_LENGTH = 32
DEFAULT_ORIGINS = ["http://localhost:3000", "http://127.0.0.1:3000"]

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line meant for an operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "NEON_DB_URL", "database_url")
    )
    better_auth_secret: SecretStr | None = None
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ORIGINS)
    )
    log_level: LogLevel = "INFO"
    port: int = Field(default=8000, ge=1, le=65535)

    jwt_leeway_seconds: int = Field(default=10, ge=0, le=300)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    db_connect_timeout_seconds: int = Field(default=5, ge=1)

    @field_validator("database_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("better_auth_secret", mode="before")
    @classmethod
    def _secret_long_enough(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            if len(value) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_LENGTH} characters"
                )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and "*" in value:
            # Browsers refuse a wildcard together with credentials, and echoing every origin
            # would let any site drive a signed-in user's API calls.
            raise ValueError("ALLOWED_ORIGINS must list origins explicitly; '*' is not allowed")
        return value

    @cached_property
    def database(self) -> "DatabaseURL":
        if self.database_url is None:
            raise ConfigError("DATABASE_URL is not set (a PostgreSQL URL, or sqlite:///FILE)")
        return DatabaseURL.parse(self.database_url)

    def require_production(self) -> None:
        """Refuse to serve without a database or a way to verify tokens."""
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set: give the PostgreSQL URL from Neon's console "
                "(or sqlite:///FILE); for a zero-configuration local run use `todo-api dev`"
            )
        self.database  # noqa: B018 - parse now so a malformed URL fails at start
        if self.better_auth_secret is None:
            raise ConfigError(
                "no way to verify tokens: set BETTER_AUTH_SECRET "
                f"(the Better Auth secret, at least {MIN_SECRET_LENGTH} characters)"
            )


class DatabaseURL:
    """A database URL as an operator wrote it, turned into the drivers this service uses."""

    def __init__(self, url: URL) -> None:
        self._url = url

    @classmethod
    def parse(cls, raw: str) -> "DatabaseURL":
        try:
            url = make_url(raw.strip())
        except ArgumentError:
            raise ConfigError("DATABASE_URL is not a valid database URL") from None
        backend = url.get_backend_name()
        if backend in ("postgres", "postgresql"):
            return cls(url.set(drivername="postgresql"))
        if backend == "sqlite":
            if url.database in (None, "", ":memory:"):
                raise ConfigError("DATABASE_URL for SQLite must name a file: sqlite:///todo.db")
            return cls(url.set(drivername="sqlite"))
        raise ConfigError("DATABASE_URL must be a PostgreSQL or SQLite URL")

    @property
    def is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    @property
    def async_url(self) -> URL:
        return self._url.set(
            drivername="sqlite+aiosqlite" if self.is_sqlite else "postgresql+psycopg"
        )

    @property
    def sync_url(self) -> URL:
        return self._url.set(drivername="sqlite" if self.is_sqlite else "postgresql+psycopg")

    def redacted(self) -> str:
        return self._url.render_as_string(hide_password=True)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into one operator-readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]).upper() or "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
