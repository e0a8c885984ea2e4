"""Every rule about tokens: which ones are accepted, and whose they are.

The algorithm is chosen by the server's configuration, never by the token: an HMAC token is
checked only against the shared secret, with only the HMAC algorithms allowed.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from todo_api.models import USER_ID_MAX

logger = logging.getLogger(__name__)

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
# Far above any real Better Auth token (about 1 KB); junk beyond it is refused unparsed.
MAX_TOKEN_LENGTH = 8192


class TokenRejected(Exception):
    """The token is not accepted. The reason is for the server log only, never for the client."""


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str


class TokenVerifier:
    def __init__(self, *, secret: str | None, leeway_seconds: int) -> None:
        self._secret = secret
        self._leeway = leeway_seconds

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm in HMAC_ALGORITHMS and self._secret is not None:
            claims = self._decode(token, self._secret, list(HMAC_ALGORITHMS))
        else:
            raise TokenRejected(f"algorithm not accepted: {algorithm!r}")
        return Principal(user_id_of(claims))

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                leeway=self._leeway,
                # Tokens signed with the shared secret carry no audience of ours to check.
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(type(exc).__name__) from exc
        return claims


def user_id_of(claims: dict[str, Any]) -> str:
    """`sub`, or `user.id` in Better Auth's session cookie-cache token, which has no `sub`."""
    user_id = claims.get("sub")
    if user_id is None and isinstance(claims.get("user"), dict):
        user_id = claims["user"].get("id")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= USER_ID_MAX:
        raise TokenRejected("no usable user id")
    if not user_id.isprintable():
        raise TokenRejected("user id has control characters")
    return user_id


def mint_token(secret: str, user_id: str, lifetime: timedelta) -> str:
    """An HS256 token like the ones a Next.js server mints with the shared secret."""
    now = datetime.now(UTC)
    claims = {"sub": user_id, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secret, algorithm="HS256")
