"""The one settings object: environment variables, or a `.env` file in the working directory."""

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from todo_api.auth.jwks import JWKS_ALGORITHMS

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
    # Optional: Neon's direct URL, on which each instance LISTENs for the others' changes.
    database_direct_url: str | None = None
    better_auth_secret: SecretStr | None = None
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ORIGINS)
    )
    log_level: LogLevel = "INFO"
    port: int = Field(default=8000, ge=1, le=65535)
    # `todo-api serve`'s worker processes (one per core is best), by the name platforms and
    # container images set it under.
    web_concurrency: int = Field(default=1, ge=1, le=64)

    jwt_leeway_seconds: int = Field(default=10, ge=0, le=300)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=4096)
    # A request head (line and headers) not complete this long after it began: connection closed.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    # A fixed pool by default: under load, overflow connections were opened and closed again
    # and again, which cost a fifth of the throughput at 100 concurrent clients.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    db_connect_timeout_seconds: int = Field(default=5, ge=1)
    # A new connection that fails (refused, starting up: Neon waking) is retried this long.
    db_connect_retry_seconds: float = Field(default=10.0, ge=0)
    # A statement running longer is cancelled and answered 503 DATABASE_TIMEOUT; 0 = never.
    db_statement_timeout_seconds: float = Field(default=10.0, ge=0)
    # Server-side prepared statements break behind PgBouncer < 1.21 in transaction mode.
    db_prepared_statements: bool = False

    # Limits that keep one user from filling the database or getting unbounded lists.
    max_tasks_per_user: int = Field(default=10_000, ge=1)
    idempotency_key_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # How long /changes remembers deleted tasks; an older cursor is answered 410.
    sync_retention_days: int = Field(default=30, ge=1, le=3650)
    # Open event streams (/events) per user, and in all, on one instance (429, 503 beyond).
    max_streams_per_user: int = Field(default=5, ge=1)
    max_streams: int = Field(default=1000, ge=1)

    # GET /metrics (Prometheus): off unless enabled; with a token, only for that bearer token.
    metrics_enabled: bool = False
    metrics_token: SecretStr | None = None

    # Better Auth's JWT plugin: public keys (JWKS) and the `iss`/`aud` its tokens carry.
    better_auth_url: str | None = None
    better_auth_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(JWKS_ALGORITHMS)
    )
    accept_session_cache_jwt: bool = False
    jwks_refetch_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator(
        "database_url",
        "database_direct_url",
        "better_auth_url",
        "better_auth_jwks_url",
        "jwt_issuer",
        "jwt_audience",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("better_auth_url", "better_auth_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - a malformed port fails here, at start
        except ValueError:
            raise ValueError("has an invalid port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            unknown = [name for name in value if name not in JWKS_ALGORITHMS]
            if unknown or not value:
                raise ValueError(f"must be some of {', '.join(JWKS_ALGORITHMS)}")
        return value

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

    @cached_property
    def direct_database(self) -> "DatabaseURL | None":
        """Neon's direct (unpooled) URL, for LISTEN, which a transaction pooler cannot carry;
        None when not set (the instances then poll for changes)."""
        if self.database_direct_url is None:
            return None
        direct = DatabaseURL.parse(self.database_direct_url)
        if direct.is_sqlite or self.database.is_sqlite:
            raise ConfigError(
                "DATABASE_DIRECT_URL is for PostgreSQL: the direct URL of DATABASE_URL"
            )
        return direct

    @cached_property
    def jwks(self) -> "JwksSettings | None":
        """Where Better Auth's public keys are and what its tokens must say; None when not used."""
        if self.better_auth_url is None and self.better_auth_jwks_url is None:
            if self.accept_session_cache_jwt:
                raise ConfigError("ACCEPT_SESSION_CACHE_JWT needs BETTER_AUTH_URL (its JWKS keys)")
            return None
        origin = _origin(self.better_auth_url) if self.better_auth_url else None
        issuer = self.jwt_issuer or origin
        audience = self.jwt_audience or origin
        if issuer is None or audience is None:
            raise ConfigError(
                "BETTER_AUTH_JWKS_URL needs BETTER_AUTH_URL (or JWT_ISSUER and JWT_AUDIENCE) "
                "to know the iss and aud its tokens carry"
            )
        url = self.better_auth_jwks_url or _jwks_url(self.better_auth_url or "")
        return JwksSettings(url=url, issuer=issuer, audience=audience)

    def require_production(self) -> None:
        """Refuse to serve without a database or a way to verify tokens."""
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set: give the PostgreSQL URL from Neon's console "
                "(or sqlite:///FILE); for a zero-configuration local run use `todo-api dev`"
            )
        self.database  # noqa: B018 - parse now so a malformed URL fails at start
        jwks = self.jwks  # checked even with a secret: a half-done JWKS setup fails at start
        if self.better_auth_secret is None and jwks is None:
            raise ConfigError(
                "no way to verify tokens: set BETTER_AUTH_URL (your Better Auth server, whose "
                "JWKS keys sign its tokens) or BETTER_AUTH_SECRET (its secret, at least "
                f"{MIN_SECRET_LENGTH} characters), or both"
            )


@dataclass(frozen=True, slots=True)
class JwksSettings:
    url: str
    issuer: str
    audience: str


def _origin(url: str) -> str:
    """What Better Auth puts in `iss` and `aud`: the origin of its base URL (`new URL().origin`:
    path dropped, scheme and host in lower case, a default port left out)."""
    parts = urlsplit(url)
    scheme, host, port = parts.scheme.lower(), parts.hostname or "", parts.port
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _jwks_url(better_auth_url: str) -> str:
    """Where Better Auth serves its JWKS: like Better Auth itself, a base URL with a path is
    taken as the auth endpoints' base; without one, they are under `/api/auth`."""
    parts = urlsplit(better_auth_url)._replace(query="", fragment="")
    base = parts.geturl().rstrip("/")
    if not parts.path.strip("/"):
        base += "/api/auth"
    return base + "/jwks"


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
