"""Configuration: Neon's URLs as Neon prints them, aliases, and refusals in one clear line."""

import pytest

from todo_api.core.settings import ConfigError, DatabaseURL, Settings, load_settings

NEON = (
    "postgresql://alex:AbC123dEf@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/dbname"
    "?sslmode=require&channel_binding=require"
)


def test_neon_url_keeps_ssl_parameters_and_uses_psycopg() -> None:
    database = DatabaseURL.parse(NEON)
    url = database.async_url
    assert url.drivername == "postgresql+psycopg"
    assert url.query == {"sslmode": "require", "channel_binding": "require"}
    assert url.host == "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech"
    assert "AbC123dEf" not in database.redacted()


@pytest.mark.parametrize(
    "scheme", ["postgres", "postgresql", "postgresql+psycopg2", "postgresql+asyncpg"]
)
def test_any_postgres_scheme_is_normalised(scheme: str) -> None:
    assert DatabaseURL.parse(f"{scheme}://u@h/db").async_url.drivername == "postgresql+psycopg"


def test_sqlite_url() -> None:
    database = DatabaseURL.parse("sqlite:///todo.db")
    assert database.is_sqlite
    assert database.async_url.drivername == "sqlite+aiosqlite"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "sqlite://", "sqlite:///:memory:"])
def test_unusable_database_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        DatabaseURL.parse(url)


def test_neon_db_url_is_an_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("NEON_DB_URL", NEON)
    assert Settings(_env_file=None).database_url == NEON


def test_short_secret_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETTER_AUTH_SECRET", "too-short")
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert (
        str(error.value) == "BETTER_AUTH_SECRET: BETTER_AUTH_SECRET must be at least 32 characters"
    )
    assert "too-short" not in str(error.value)


def test_origins_are_split_and_wildcard_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000")
    assert load_settings(_env_file=None).allowed_origins == [
        "https://app.example.com",
        "http://localhost:3000",
    ]
    monkeypatch.setenv("ALLOWED_ORIGINS", "*")
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
        load_settings(_env_file=None)


def test_production_needs_a_database_and_a_way_to_verify_tokens() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        Settings(
            database_url=None, better_auth_secret="s" * 32, _env_file=None
        ).require_production()
    with pytest.raises(ConfigError, match="BETTER_AUTH_SECRET"):
        Settings(database_url=NEON, better_auth_secret=None, _env_file=None).require_production()


@pytest.mark.parametrize(
    ("better_auth_url", "jwks_url", "origin"),
    [
        ("http://127.0.0.1:3456", "http://127.0.0.1:3456/api/auth/jwks", "http://127.0.0.1:3456"),
        ("http://localhost:3000/", "http://localhost:3000/api/auth/jwks", "http://localhost:3000"),
        (
            "https://App.Example.com:443/api/auth",
            "https://App.Example.com:443/api/auth/jwks",
            "https://app.example.com",
        ),
        (
            "https://example.com/auth/",
            "https://example.com/auth/jwks",
            "https://example.com",
        ),
        ("https://example.com?x=1#y", "https://example.com/api/auth/jwks", "https://example.com"),
        ("http://[::1]:3000", "http://[::1]:3000/api/auth/jwks", "http://[::1]:3000"),
    ],
)
def test_better_auth_url_gives_the_jwks_url_and_the_expected_iss_and_aud(
    better_auth_url: str, jwks_url: str, origin: str
) -> None:
    jwks = Settings(better_auth_url=better_auth_url, _env_file=None).jwks
    assert jwks is not None
    assert (jwks.url, jwks.issuer, jwks.audience) == (jwks_url, origin, origin)


def test_jwks_url_issuer_and_audience_can_be_set_explicitly() -> None:
    jwks = Settings(
        better_auth_url="https://app.example.com",
        better_auth_jwks_url="https://keys.example.com/jwks.json",
        jwt_issuer="https://auth.example.com",
        jwt_audience="todo-api",
        _env_file=None,
    ).jwks
    assert jwks is not None
    assert (jwks.url, jwks.issuer, jwks.audience) == (
        "https://keys.example.com/jwks.json",
        "https://auth.example.com",
        "todo-api",
    )


def test_algorithms_are_a_comma_separated_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALGORITHMS", "EdDSA, RS256")
    assert load_settings(_env_file=None).jwt_algorithms == ["EdDSA", "RS256"]
    for refused in ("HS256", "none", "EdDSA,ES384", ""):
        monkeypatch.setenv("JWT_ALGORITHMS", refused)
        with pytest.raises(ConfigError, match="JWT_ALGORITHMS"):
            load_settings(_env_file=None)


def test_production_verifies_tokens_with_a_secret_or_a_better_auth_url_or_both() -> None:
    for settings in (
        Settings(database_url=NEON, better_auth_url="https://app.example.com", _env_file=None),
        Settings(database_url=NEON, better_auth_secret="s" * 32, _env_file=None),
        Settings(
            database_url=NEON,
            better_auth_secret="s" * 32,
            better_auth_url="https://app.example.com",
            _env_file=None,
        ),
    ):
        settings.require_production()
    with pytest.raises(ConfigError, match=r"set BETTER_AUTH_URL .* or BETTER_AUTH_SECRET"):
        Settings(database_url=NEON, _env_file=None).require_production()
    with pytest.raises(ConfigError, match="ACCEPT_SESSION_CACHE_JWT needs BETTER_AUTH_URL"):
        Settings(
            database_url=NEON,
            better_auth_secret="s" * 32,
            accept_session_cache_jwt=True,
            _env_file=None,
        ).require_production()
