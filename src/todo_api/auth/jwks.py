"""Better Auth's public keys (JWKS): fetched without blocking the event loop, cached, and
refetched when a token names a key that is not in the cache (key rotation).

Which key may verify which algorithm is decided here from the key's own `kty`/`crv`, never from
the token: an `oct` (HMAC) key is never used, an RSA key never verifies EdDSA, and so on. Only
the configured URL is ever fetched; a token's `kid` is a name to look up, nothing more, and its
`jku`/`x5u`/`jwk`/`x5c` headers are never read.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from todo_api.core.metrics import JWKS_REFRESHES

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

# What Better Auth's JWT plugin can sign with (`jwks.keyPairConfig.alg`).
JWKS_ALGORITHMS = ("EdDSA", "ES256", "ES512", "RS256", "PS256")

# A JWKS is a few hundred bytes per key; anything far larger is not one.
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
# Private-key members: a JWKS that publishes them is broken, and such a key is not used.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class KeysUnavailable(Exception):
    """The token needs a key that is not cached, and the JWKS cannot be fetched right now."""


class KeyNotFound(Exception):
    """No published key has this `kid` and may verify this algorithm: the token is invalid."""


class _FetchFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class PublicKey:
    kid: str
    algorithms: frozenset[str]  # what this key may verify, from its kty/crv (and its own `alg`)
    key: Any  # a `cryptography` public key object


def algorithms_for(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The algorithms a JWK may verify, judged by its key type; HMAC (`oct`) is never one."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv in ("Ed25519", "Ed448"):
        algorithms = {"EdDSA"}
    elif kty == "EC" and crv == "P-256":
        algorithms = {"ES256"}
    elif kty == "EC" and crv == "P-521":
        algorithms = {"ES512"}
    elif kty == "RSA":
        algorithms = {"RS256", "PS256"}
    else:
        algorithms = set()
    if "alg" in jwk:
        algorithms &= {jwk["alg"]}
    return frozenset(algorithms)


def parse_jwks(document: object, allowed: Iterable[str]) -> dict[str, list[PublicKey]]:
    """The usable verification keys of a JWKS document, by `kid`. Unusable keys are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _FetchFailed("not a JWKS document (no `keys` list)")
    allowed = frozenset(allowed)
    keys: dict[str, list[PublicKey]] = {}
    for jwk in document["keys"]:
        key = _public_key(jwk, allowed)
        if key is not None:
            keys.setdefault(key.kid, []).append(key)
    return keys


def _public_key(jwk: object, allowed: frozenset[str]) -> PublicKey | None:
    if not isinstance(jwk, dict):
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return None  # tokens must name their key, so a key without a name is never chosen
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        logger.warning("JWKS key %r holds private or secret material: ignored", kid[:64])
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    algorithms = algorithms_for(jwk) & allowed
    if not algorithms:
        return None
    try:
        key = jwt.PyJWK(jwk, algorithm=min(algorithms)).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        logger.warning("JWKS key %r is malformed: ignored", kid[:64])
        return None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        logger.warning("JWKS key %r is an RSA key under %d bits: ignored", kid[:64], MIN_RSA_BITS)
        return None
    return PublicKey(kid=kid, algorithms=algorithms, key=key)


class JwksKeys:
    """The key cache for one JWKS URL, shared by every request of this process.

    - A token naming an unknown `kid` causes one refetch (single flight: concurrent requests
      wait for the same fetch), and at most one such refetch per `refetch_interval`, so tokens
      with made-up `kid`s cannot make a fetch storm.
    - Keys older than `max_age` are refreshed on use, so a key Better Auth stops publishing
      stops being accepted; while the JWKS cannot be reached, cached keys keep working.
    - A fetch that fails means `KeysUnavailable` (503) only for a token whose key is not cached.
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        refetch_interval: float,
        max_age: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.algorithms = frozenset(algorithms)
        self._refetch_interval = refetch_interval
        self._max_age = max_age
        self._timeout = timeout
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._lock: asyncio.Lock | None = None
        self._keys: dict[str, list[PublicKey]] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch of any kind, successful or not
        self._refetched_at: float | None = None  # last fetch caused by an unknown kid
        self._last_fetch_failed = False

    @asynccontextmanager
    async def open(self) -> AsyncIterator[None]:
        """The HTTP client for the app's lifetime. The keys are fetched once at start; a JWKS
        that cannot be reached then is a warning, not a failure (it is retried when needed)."""
        # Imported here: a service that verifies with the shared secret only never loads an HTTP
        # client (httpx and what it imports: about 5 MB of every worker's memory).
        import httpx

        async with httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        ) as client:
            self._client = client
            self._lock = asyncio.Lock()
            try:
                async with self._lock:
                    await self._fetch()
            except _FetchFailed as exc:
                logger.warning(
                    "Better Auth keys (JWKS) not reachable at start, from %s: %s; "
                    "tokens signed with them get 503 until it answers",
                    self.url,
                    exc,
                )
            try:
                yield
            finally:
                self._client = None
                self._lock = None

    async def key_for(self, kid: str, algorithm: str) -> PublicKey:
        """The published key named `kid` that may verify `algorithm`."""
        candidates = self._keys.get(kid)
        if candidates is None or self._is_stale():
            candidates = await self._lookup(kid)
        for key in candidates:
            if algorithm in key.algorithms:
                return key
        raise KeyNotFound(f"key {kid[:64]!r} may not verify {algorithm}")

    def _is_stale(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at >= self._max_age

    async def _lookup(self, kid: str) -> list[PublicKey]:
        if self._lock is None:
            raise KeysUnavailable("the key cache is not open (app not started)")
        cached = self._keys.get(kid)
        if cached is not None and self._lock.locked():
            return cached  # stale but known, and a refresh is already under way: don't queue
        async with self._lock:
            now = self._clock()
            cached = self._keys.get(kid)
            if cached is not None:
                if self._is_stale() and self._since(self._attempted_at, now):
                    try:
                        await self._fetch()
                    except _FetchFailed as exc:
                        logger.warning("JWKS refresh failed, using cached keys: %s", exc)
                        return cached
                    return self._known(kid, "no longer published")
                return cached
            # An unknown kid: a rotated key, or junk.
            if self._since(self._refetched_at, now):
                self._refetched_at = now
                try:
                    await self._fetch()
                except _FetchFailed as exc:
                    raise KeysUnavailable(f"JWKS fetch failed: {exc}") from None
            elif self._last_fetch_failed:
                raise KeysUnavailable("JWKS unreachable at the last try")
            return self._known(kid, "not published")

    def _since(self, moment: float | None, now: float) -> bool:
        return moment is None or now - moment >= self._refetch_interval

    def _known(self, kid: str, reason: str) -> list[PublicKey]:
        keys = self._keys.get(kid)
        if keys is None:
            raise KeyNotFound(f"key {kid[:64]!r} {reason}")
        return keys

    async def _fetch(self) -> None:
        """Replace the cache with the JWKS as published now; on failure keep it as it was."""
        try:
            await self._replace_keys()
        except _FetchFailed:
            JWKS_REFRESHES.labels("failed").inc()
            raise
        JWKS_REFRESHES.labels("ok").inc()

    async def _replace_keys(self) -> None:
        assert self._client is not None
        self._attempted_at = self._clock()
        self._last_fetch_failed = True
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._download(self._client)
        except TimeoutError:
            raise _FetchFailed(f"no answer within {self._timeout:g} s") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise _FetchFailed("the answer is not JSON") from None
        keys = parse_jwks(document, self.algorithms)
        if not keys:
            raise _FetchFailed(
                "no usable key in the JWKS (algorithms accepted: "
                + ", ".join(sorted(self.algorithms))
                + ")"
            )
        self._keys = keys
        self._fetched_at = self._clock()
        self._last_fetch_failed = False
        logger.info("fetched %d key(s) from %s", sum(map(len, keys.values())), self.url)

    async def _download(self, client: "httpx.AsyncClient") -> bytes:
        import httpx  # loaded by open() already

        try:
            async with client.stream("GET", self.url) as response:
                if response.status_code != 200:
                    raise _FetchFailed(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise _FetchFailed(f"larger than {MAX_JWKS_BYTES} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise _FetchFailed(type(exc).__name__) from None
