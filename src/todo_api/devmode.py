"""Development mode: no configuration at all. A SQLite file and a generated secret, kept in
.todo-dev/ so that tokens survive restarts, and a token and curl line ready to paste."""

import secrets
from datetime import timedelta
from pathlib import Path

from todo_api.auth.tokens import mint_token
from todo_api.core.settings import Settings, load_settings

DEV_DIR = Path(".todo-dev")
SECRET_FILE = DEV_DIR / "secret"
DEV_USER = "dev-user"
DEV_TOKEN_LIFETIME = timedelta(hours=24)


def dev_secret() -> str:
    """The development secret, generated on first use and readable only by its owner."""
    if SECRET_FILE.exists():
        return SECRET_FILE.read_text().strip()
    DEV_DIR.mkdir(exist_ok=True)
    secret = secrets.token_urlsafe(48)
    SECRET_FILE.touch(mode=0o600)
    SECRET_FILE.write_text(secret + "\n")
    return secret


def dev_settings() -> Settings:
    """The settings as every command reads them (the environment, then .env), with local
    defaults for whatever neither sets: a token from `todo-api token` then works here too."""
    settings = load_settings()
    overrides: dict[str, object] = {}
    if settings.database_url is None:
        DEV_DIR.mkdir(exist_ok=True)
        overrides["database_url"] = f"sqlite:///{DEV_DIR / 'todo.db'}"
    if settings.better_auth_secret is None:
        overrides["better_auth_secret"] = dev_secret()
    return load_settings(**overrides) if overrides else settings


def banner(settings: Settings, host: str, port: int) -> str:
    assert settings.better_auth_secret is not None
    token = mint_token(settings.better_auth_secret.get_secret_value(), DEV_USER, DEV_TOKEN_LIFETIME)
    base = f"http://{host}:{port}"
    return "\n".join(
        [
            "",
            "Todo API in DEVELOPMENT mode (not for production: see README, 'Production')",
            f"  database   {settings.database.redacted()}",
            f"  API docs   {base}/docs",
            f"  token for user '{DEV_USER}', valid 24 h (new one: todo-api token USER_ID):",
            f"    {token}",
            "  try it:",
            f'    curl -H "Authorization: Bearer {token}" {base}/api/{DEV_USER}/tasks',
            "",
        ]
    )
