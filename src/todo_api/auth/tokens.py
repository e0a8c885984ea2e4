"""Every rule about tokens: which ones are accepted, and whose they are.

Two ways to verify, usable at once, each only when configured:

- the shared secret (BETTER_AUTH_SECRET): HS256/HS384/HS512 tokens, user in `sub`, or in
  `user.id` for Better Auth's session cookie-cache token, which has no `sub`;
- Better Auth's public keys (BETTER_AUTH_URL, see jwks.py): tokens of its JWT plugin, with `iss`
  and `aud` checked and `exp`, `iat`, `sub`, `iss`, `aud` required; and, only when
  ACCEPT_SESSION_CACHE_JWT is on, its session cookie-cache token signed with those keys
  (`aud: "better-auth:session-cache"`).

The algorithm is chosen by the server's configuration, never by the token: an HMAC token is
checked only against the shared secret, with only the HMAC algorithms allowed; any other token
only against a published key whose own type fits the algorithm.
"""

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from todo_api.auth.jwks import JwksKeys, KeyNotFound, KeysUnavailable
from todo_api.core.models import USER_ID_MAX
from todo_api.core.settings import Settings

__all__ = ["NOT_BEARER", "KeysUnavailable", "Principal", "TokenRejected", "TokenVerifier"]

logger = logging.getLogger(__name__)

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
# The `aud` of Better Auth's session cookie-cache token when `jwt({ sessionCookieCache: true })`.
SESSION_CACHE_AUDIENCE = "better-auth:session-cache"
# Far above any real Better Auth token (about 1 KB); junk beyond it is refused unparsed.
MAX_TOKEN_LENGTH = 8192
# Verified HMAC tokens remembered at once (about 1 KB each), the oldest forgotten first.
VERIFIED_CACHE_SIZE = 4096


# What a client is told of a refused token (RFC 6750 `error_description`, and `detail`): which
# case it is and how to mend it, never which key or which byte. No `"` or `\`, which the
# header's quoted string could not carry.
NOT_BEARER = "The Authorization header must be Bearer and the JWT: Bearer eyJ..."
NOT_A_JWT = (
    "The token is not a JWT: send the JWT from Better Auth's /api/auth/token or "
    "authClient.token(), not the session token"
)
EXPIRED = "The token has expired: get a fresh one from Better Auth and retry"
NOT_YET_VALID = "The token is not valid yet (nbf or iat in the future): check the clocks"
NOT_FOR_THIS_API = (
    "The token was not issued for this API: its issuer or audience is not BETTER_AUTH_URL"
)
BAD_SIGNATURE = "The token's signature does not verify with this API's secret or keys"
MISSING_CLAIM = "The token lacks a claim this API requires (exp, and sub for the user)"
WRONG_ALGORITHM = "The token is signed with an algorithm (alg) this API is not configured for"
NO_USER = f"The token names no usable user: sub must be printable, 1 to {USER_ID_MAX} characters"
NOT_ACCEPTED = "The token is not valid for this API"


class TokenRejected(Exception):
    """The token is not accepted. `args[0]`, the exact reason, is for the server log only;
    `public` is what the client is told (one of the texts above)."""

    def __init__(self, reason: str, public: str = NOT_ACCEPTED) -> None:
        super().__init__(reason)
        self.public = public


def _rejected(exc: jwt.PyJWTError) -> TokenRejected:
    """The refusal of a token PyJWT would not decode. PyJWT checks the signature before any
    claim, so a forged token is told only that its signature fails."""
    public = NOT_ACCEPTED
    if isinstance(exc, jwt.ExpiredSignatureError):
        public = EXPIRED
    elif isinstance(exc, jwt.ImmatureSignatureError):
        public = NOT_YET_VALID
    elif isinstance(exc, jwt.InvalidIssuerError | jwt.InvalidAudienceError):
        public = NOT_FOR_THIS_API
    elif isinstance(exc, jwt.MissingRequiredClaimError):
        public = MISSING_CLAIM
    elif isinstance(exc, jwt.InvalidSignatureError):
        public = BAD_SIGNATURE
    elif isinstance(exc, jwt.InvalidAlgorithmError):
        public = WRONG_ALGORITHM
    elif isinstance(exc, jwt.DecodeError):
        public = NOT_A_JWT
    return TokenRejected(type(exc).__name__, public)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    # When the token stops being accepted (its `exp`, seconds since the epoch): a live stream
    # ends then.
    expires_at: float


class TokenVerifier:
    def __init__(
        self,
        *,
        secret: str | None,
        leeway_seconds: int,
        jwks: JwksKeys | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        accept_session_cache: bool = False,
    ) -> None:
        if jwks is not None and (issuer is None or audience is None):
            raise ValueError("tokens verified with a JWKS need an issuer and an audience")
        self._secret = secret
        self._leeway = leeway_seconds
        self._verified_hmac: dict[str, tuple[Principal, float]] = {}
        self._jwks = jwks
        self._issuer = issuer
        self._audiences = [audience] if audience is not None else []
        if accept_session_cache:
            self._audiences.append(SESSION_CACHE_AUDIENCE)

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenVerifier":
        secret = settings.better_auth_secret
        source = settings.jwks
        jwks = None
        if source is not None:
            jwks = JwksKeys(
                source.url,
                algorithms=settings.jwt_algorithms,
                refetch_interval=settings.jwks_refetch_interval_seconds,
                max_age=settings.jwks_cache_seconds,
                timeout=settings.jwks_timeout_seconds,
            )
        return cls(
            secret=secret.get_secret_value() if secret is not None else None,
            leeway_seconds=settings.jwt_leeway_seconds,
            jwks=jwks,
            issuer=source.issuer if source else None,
            audience=source.audience if source else None,
            accept_session_cache=settings.accept_session_cache_jwt,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifetime: the JWKS client, when there is one."""
        if self._jwks is None:
            yield
            return
        async with self._jwks.open():
            yield

    async def verify(self, token: str) -> Principal:
        """The token's user, or TokenRejected; KeysUnavailable when its key cannot be fetched."""
        remembered = self._verified_hmac.get(token)
        if remembered is not None:
            principal, usable_until = remembered
            if time.time() < usable_until:
                return principal
            del self._verified_hmac[token]
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("token too long", NOT_A_JWT)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed token", NOT_A_JWT) from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str):
            raise TokenRejected("no algorithm", NOT_A_JWT)
        if algorithm in HMAC_ALGORITHMS and self._secret is not None:
            return self._verify_hmac(token, self._secret)
        if self._jwks is not None and algorithm in self._jwks.algorithms:
            claims = await self._decode_with_published_key(token, header, algorithm)
        else:
            raise TokenRejected(f"algorithm not accepted: {algorithm[:16]!r}", WRONG_ALGORITHM)
        return Principal(user_id_of(claims), float(claims["exp"]))

    def _verify_hmac(self, token: str, secret: str) -> Principal:
        """HMAC tokens are remembered until they expire (see `verify`): a client sends the same
        token with every call for its whole lifetime, and the verdict for exactly these bytes
        cannot change while the secret stays (a new secret means a restart). Tokens checked
        against published keys are not remembered, so that a key Better Auth stops publishing
        stops working at once."""
        claims = self._decode_hmac(token, secret)
        principal = Principal(user_id_of(claims), float(claims["exp"]))
        if len(self._verified_hmac) >= VERIFIED_CACHE_SIZE:
            del self._verified_hmac[next(iter(self._verified_hmac))]  # the oldest entry
        self._verified_hmac[token] = (principal, float(claims["exp"]) + self._leeway)
        return principal

    def _decode_hmac(self, token: str, secret: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=list(HMAC_ALGORITHMS),
                leeway=self._leeway,
                # Tokens signed with the shared secret carry no audience of ours to check.
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise _rejected(exc) from exc
        return claims

    async def _decode_with_published_key(
        self, token: str, header: dict[str, Any], algorithm: str
    ) -> dict[str, Any]:
        assert self._jwks is not None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("no kid", BAD_SIGNATURE)
        try:
            key = await self._jwks.key_for(kid, algorithm)
        except KeyNotFound as exc:
            raise TokenRejected(str(exc), BAD_SIGNATURE) from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                leeway=self._leeway,
                issuer=self._issuer,
                audience=self._audiences,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise _rejected(exc) from exc
        return claims


def user_id_of(claims: dict[str, Any]) -> str:
    """`sub`, or `user.id` in Better Auth's session cookie-cache token, which has no `sub`."""
    user_id = claims.get("sub")
    if user_id is None and isinstance(claims.get("user"), dict):
        user_id = claims["user"].get("id")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= USER_ID_MAX:
        raise TokenRejected("no usable user id", NO_USER)
    if not user_id.isprintable():
        raise TokenRejected("user id has control characters", NO_USER)
    return user_id


def mint_token(secret: str, user_id: str, lifetime: timedelta) -> str:
    """An HS256 token like the ones a Next.js server mints with the shared secret."""
    now = datetime.now(UTC)
    claims = {"sub": user_id, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secret, algorithm="HS256")
