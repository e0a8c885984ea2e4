"""Tokens verified with Better Auth's published keys (JWKS), fetched by the service over real
HTTP from a local key server, beside the shared secret: what is accepted, every attack we know
of, and how the key cache behaves when keys rotate, when junk arrives and when the JWKS is down.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from tests.conftest import SECRET, make_token
from tests.keyserver import KeyServer, SigningKey, key_server
from todo_api.app import create_app
from todo_api.auth import tokens
from todo_api.auth.jwks import JwksKeys, KeyNotFound, KeysUnavailable
from todo_api.core.settings import Settings

ALGORITHMS = ["EdDSA", "ES256", "ES512", "RS256", "PS256"]
SESSION_CACHE_AUDIENCE = "better-auth:session-cache"

ClientFactory = Callable[..., AbstractContextManager[TestClient]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = unsigned({**header, "alg": "HS256"}, claims)
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return result


def status_of(client: TestClient, token: str, user_id: str = "alice") -> int:
    return int(client.get(f"/api/{user_id}/tasks", headers=bearer(token)).status_code)


def assert_invalid(client: TestClient, token: str) -> None:
    response = client.get("/api/alice/tasks", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "INVALID_TOKEN"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    with key_server() as server:
        yield server


@pytest.fixture
def trap() -> Iterator[KeyServer]:
    """Another server, where an attacker's headers point: it must never get a request."""
    with key_server() as server:
        yield server


@pytest.fixture
def eddsa(keys: KeyServer) -> SigningKey:
    key = SigningKey("EdDSA", kid="ed-key-1")
    keys.publish(key)
    return key


@pytest.fixture
def make_client(settings: Settings, keys: KeyServer) -> ClientFactory:
    """A running app on the test database whose BETTER_AUTH_URL is the local key server."""

    @contextmanager
    def factory(**overrides: Any) -> Iterator[TestClient]:
        values: dict[str, Any] = {
            "database_url": settings.database_url,
            "better_auth_secret": SECRET,
            "better_auth_url": keys.url,
            **overrides,
        }
        with TestClient(create_app(Settings(**values, _env_file=None))) as client:
            yield client

    return factory


@pytest.fixture
def client(make_client: ClientFactory, eddsa: SigningKey) -> Iterator[TestClient]:
    with make_client() as client:
        yield client


# --- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_better_auth_algorithm_is_verified_with_its_published_key(
    make_client: ClientFactory, keys: KeyServer, algorithm: str
) -> None:
    key = SigningKey(algorithm, kid=f"{algorithm}-kid")
    keys.publish(key)
    with make_client() as client:
        token = key.token(keys.url, user_id="alice")
        assert status_of(client, token) == 200
        assert status_of(client, token, "bob") == 403
    assert keys.fetches == 1  # at start; then from the cache


def test_shared_secret_and_published_keys_work_at_once(
    client: TestClient, keys: KeyServer, eddsa: SigningKey
) -> None:
    assert status_of(client, eddsa.token(keys.url)) == 200
    assert status_of(client, make_token("alice")) == 200


def test_session_cache_token_is_accepted_only_when_enabled(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    token = eddsa.token(
        keys.url,
        audience=SESSION_CACHE_AUDIENCE,
        header={"typ": "better-auth.session-cache+jwt"},
        session={"id": "s1", "userId": "alice", "token": "raw-session-token"},
        user={"id": "alice"},
        sid="raw-session-token",
    )
    with make_client() as client:
        assert_invalid(client, token)
    with make_client(accept_session_cache_jwt=True) as client:
        assert status_of(client, token) == 200
        assert status_of(client, eddsa.token(keys.url)) == 200  # the plugin's token still works


def test_session_cache_setting_needs_a_jwks(settings: Settings) -> None:
    from todo_api.core.settings import ConfigError

    with pytest.raises(ConfigError, match="ACCEPT_SESSION_CACHE_JWT needs BETTER_AUTH_URL"):
        create_app(
            Settings(
                database_url=settings.database_url,
                better_auth_secret=SECRET,
                accept_session_cache_jwt=True,
                _env_file=None,
            )
        )


def test_explicit_jwks_url_issuer_and_audience(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    overrides = {
        "better_auth_url": None,
        "better_auth_jwks_url": keys.jwks_url,
        "jwt_issuer": "https://auth.example.com",
        "jwt_audience": "todo-api",
    }
    with make_client(**overrides) as client:
        good = eddsa.token("https://auth.example.com", audience="todo-api")
        assert status_of(client, good) == 200
        assert_invalid(client, eddsa.token(keys.url))  # iss/aud of the key server's origin


def test_only_the_configured_algorithms_are_accepted(
    make_client: ClientFactory, keys: KeyServer
) -> None:
    ed, rs = SigningKey("EdDSA", kid="ed"), SigningKey("RS256", kid="rs")
    keys.publish(ed, rs)
    with make_client(jwt_algorithms="EdDSA") as client:
        assert status_of(client, ed.token(keys.url)) == 200
        assert_invalid(client, rs.token(keys.url))


# --- attacks: each is a 401 ------------------------------------------------------------------


def test_alg_none(client: TestClient, keys: KeyServer, eddsa: SigningKey) -> None:
    claims = claims_of(eddsa.token(keys.url))
    assert_invalid(client, unsigned({"alg": "none", "kid": eddsa.kid}, claims) + ".")
    assert_invalid(client, unsigned({"alg": "None", "kid": eddsa.kid}, claims) + ".")


@pytest.mark.parametrize("alg", [["EdDSA"], {"EdDSA": 1}, None, 7, "", "EDDSA", "ES384", "HS1"])
def test_unknown_or_malformed_alg(
    client: TestClient, keys: KeyServer, eddsa: SigningKey, alg: object
) -> None:
    _, payload, signature = eddsa.token(keys.url).split(".")
    forged_header = b64(json.dumps({"alg": alg, "kid": eddsa.kid}).encode())
    assert_invalid(client, f"{forged_header}.{payload}.{signature}")


@pytest.mark.parametrize("with_secret", [True, False], ids=["secret-set", "no-secret"])
@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
@pytest.mark.parametrize("form", ["pem", "der", "jwk-json", "raw"])
def test_hmac_signed_with_the_public_key_algorithm_confusion(
    make_client: ClientFactory,
    keys: KeyServer,
    algorithm: str,
    form: str,
    with_secret: bool,
) -> None:
    key = SigningKey(algorithm, kid="published")
    keys.publish(key)
    key_bytes = public_key_bytes(key, form)
    claims = claims_of(key.token(keys.url))
    forged = hs256({"kid": key.kid, "typ": "JWT"}, claims, key_bytes)
    with make_client(better_auth_secret=SECRET if with_secret else None) as client:
        assert_invalid(client, forged)


def public_key_bytes(key: SigningKey, form: str) -> bytes:
    """The public key as an attacker might feed it to HMAC, in every usual encoding."""
    public = key.private.public_key()
    if form == "jwk-json":
        return json.dumps(key.jwk()).encode()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if form == "pem":
        encoded: bytes = public.public_bytes(serialization.Encoding.PEM, spki)
    elif form == "der":
        encoded = public.public_bytes(serialization.Encoding.DER, spki)
    elif key.algorithm == "EdDSA":
        encoded = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        encoded = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return encoded


def test_hmac_key_published_in_the_jwks_is_never_used(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    shared = b"a-symmetric-key-someone-published-by-mistake-0123456789"
    keys.publish(eddsa, {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(shared)})
    forged = hs256({"kid": "hmac"}, claims_of(eddsa.token(keys.url)), shared)
    with make_client(better_auth_secret=None) as client:
        assert_invalid(client, forged)


def test_wrong_key_with_the_published_kid(
    client: TestClient, keys: KeyServer, eddsa: SigningKey
) -> None:
    impostor = SigningKey("EdDSA", kid=eddsa.kid, variant=1)
    assert_invalid(client, impostor.token(keys.url))


def test_key_type_must_fit_the_algorithm(make_client: ClientFactory, keys: KeyServer) -> None:
    ed, rs = SigningKey("EdDSA", kid="ed"), SigningKey("RS256", kid="rs")
    keys.publish(ed, rs)
    with make_client() as client:
        # Signed by a real key of the right type, but naming a published key of another type.
        assert_invalid(client, SigningKey("ES256", kid="ed").token(keys.url))
        assert_invalid(client, SigningKey("RS256", kid="ed").token(keys.url))
        assert_invalid(client, SigningKey("EdDSA", kid="rs", variant=1).token(keys.url))
        # RS256 key published with "alg": "RS256": a PS256 token naming it is refused.
        ps = SigningKey("PS256", kid="rs")
        ps.private = rs.private
        assert_invalid(client, ps.token(keys.url))


@pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits long")  # signing the attack token
def test_weak_rsa_keys_and_private_keys_in_the_jwks_are_not_used(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    weak = SigningKey("RS256-1024", kid="weak")
    leaked = SigningKey("EdDSA", kid="leaked", variant=2)
    private_jwk = jwk_with_private_part(leaked)
    keys.publish(eddsa, weak.jwk(), private_jwk)
    with make_client() as client:
        assert_invalid(client, weak.token(keys.url))
        assert_invalid(client, leaked.token(keys.url))
        assert status_of(client, eddsa.token(keys.url)) == 200


def jwk_with_private_part(key: SigningKey) -> dict[str, Any]:
    raw = key.private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return {**key.jwk(), "d": b64(raw)}


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("expired", {"lifetime": timedelta(minutes=-5)}),
        ("nbf-in-the-future", {"nbf": int(time.time()) + 3600}),
        ("iat-in-the-future", {"iat": int(time.time()) + 3600}),
        ("missing-sub", {"user_id": None}),
        ("empty-sub", {"user_id": ""}),
        ("wrong-iss", {"iss": "http://127.0.0.1:1"}),
        ("wrong-aud", {"audience": "http://127.0.0.1:1"}),
        ("aud-of-another-app", {"audience": ["https://other.example.com"]}),
        ("missing-exp", {"exp": None}),
        ("missing-iat", {"iat": None}),
        ("missing-aud", {"audience": ""}),
    ],
)
def test_claims_are_checked(
    client: TestClient, keys: KeyServer, eddsa: SigningKey, case: str, claims: dict[str, Any]
) -> None:
    assert_invalid(client, eddsa.token(keys.url, **claims))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"lifetime": timedelta(minutes=-5)}, tokens.EXPIRED),
        ({"iss": "http://127.0.0.1:1"}, tokens.NOT_FOR_THIS_API),
        ({"audience": "http://127.0.0.1:1"}, tokens.NOT_FOR_THIS_API),
        ({"exp": None}, tokens.MISSING_CLAIM),
    ],
)
def test_a_refusal_says_which_case(
    client: TestClient, keys: KeyServer, eddsa: SigningKey, claims: dict[str, Any], reason: str
) -> None:
    response = client.get("/api/alice/tasks", headers=bearer(eddsa.token(keys.url, **claims)))
    assert response.status_code == 401
    assert response.json()["detail"] == reason
    assert f'error_description="{reason}"' in response.headers["www-authenticate"]


def test_missing_iss(client: TestClient, keys: KeyServer, eddsa: SigningKey) -> None:
    claims = claims_of(eddsa.token(keys.url))
    del claims["iss"]
    assert_invalid(client, eddsa.sign(claims))


def test_tampered_payload(client: TestClient, keys: KeyServer, eddsa: SigningKey) -> None:
    header, _, signature = eddsa.token(keys.url, user_id="bob").split(".")
    claims = claims_of(eddsa.token(keys.url, user_id="bob"))
    claims.update(sub="alice", id="alice")
    assert_invalid(client, f"{header}.{b64(json.dumps(claims).encode())}.{signature}")


def test_tampered_header(client: TestClient, keys: KeyServer, eddsa: SigningKey) -> None:
    _, payload, signature = eddsa.token(keys.url).split(".")
    header = b64(json.dumps({"alg": "EdDSA", "kid": eddsa.kid, "typ": "JWT"}).encode())
    assert_invalid(client, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "TRAP/api/auth/jwks",
        "TRAP/evil.json",
        "' OR 1=1 --",
        "",
    ],
)
def test_kid_that_is_a_path_or_url_is_just_an_unknown_kid(
    client: TestClient, keys: KeyServer, trap: KeyServer, eddsa: SigningKey, kid: str
) -> None:
    kid = kid.replace("TRAP", trap.url)
    attacker = SigningKey("EdDSA", kid=kid, variant=3)
    trap.publish(attacker)
    assert_invalid(client, attacker.token(keys.url))
    assert trap.requests == []
    assert keys.fetches <= 2  # the start-up fetch, and at most one refetch for the unknown kid


@pytest.mark.parametrize("header", ["jku", "x5u"])
def test_jku_and_x5u_headers_are_never_fetched(
    client: TestClient, keys: KeyServer, trap: KeyServer, eddsa: SigningKey, header: str
) -> None:
    attacker = SigningKey("EdDSA", kid="attacker-key", variant=4)
    trap.publish(attacker)
    for kid in (attacker.kid, eddsa.kid):
        attacker.kid = kid
        assert_invalid(client, attacker.token(keys.url, header={header: trap.jwks_url}))
    assert trap.requests == []


def test_embedded_jwk_header_is_never_trusted(
    client: TestClient, keys: KeyServer, eddsa: SigningKey
) -> None:
    attacker = SigningKey("EdDSA", kid=eddsa.kid, variant=5)
    assert_invalid(client, attacker.token(keys.url, header={"jwk": attacker.jwk()}))
    assert_invalid(client, attacker.token(keys.url, header={"x5c": ["MIIB..."]}))


@pytest.mark.parametrize("shape", ["junk", "jwt-shaped"])
def test_10_kb_junk_token(
    client: TestClient, keys: KeyServer, eddsa: SigningKey, shape: str
) -> None:
    token = "A" * 10_240 if shape == "junk" else eddsa.token(keys.url, padding="x" * 10_240)
    assert len(token) > 10_000
    assert_invalid(client, token)
    assert keys.fetches == 1


def test_token_in_the_query_string_is_not_read(
    client: TestClient, keys: KeyServer, eddsa: SigningKey
) -> None:
    token = eddsa.token(keys.url)
    for name in ("token", "access_token", "jwt"):
        response = client.get(f"/api/alice/tasks?{name}={token}")
        assert response.status_code == 401
        assert response.json()["error_code"] == "NOT_AUTHENTICATED"


def test_a_401_says_the_signature_fails_never_which_key(
    client: TestClient, keys: KeyServer
) -> None:
    forged = SigningKey("EdDSA", kid="nobody", variant=6).token(keys.url)
    response = client.get("/api/alice/tasks", headers=bearer(forged))
    assert response.json()["detail"] == tokens.BAD_SIGNATURE
    said = (response.text + response.headers["www-authenticate"]).lower()
    for word in ("nobody", "kid", "jwks", "keynotfound"):
        assert word not in said


# --- the key cache: rotation, fetch storms, outages -------------------------------------------


def test_a_new_key_is_fetched_once_and_works_at_once(
    client: TestClient, keys: KeyServer, eddsa: SigningKey
) -> None:
    rotated = SigningKey("EdDSA", kid="ed-key-2", variant=7)
    keys.publish(eddsa, rotated)
    assert keys.fetches == 1
    assert status_of(client, rotated.token(keys.url)) == 200
    assert keys.fetches == 2
    assert status_of(client, rotated.token(keys.url, user_id="bob"), "bob") == 200
    assert status_of(client, eddsa.token(keys.url)) == 200
    assert keys.fetches == 2


def test_junk_kids_cause_at_most_one_refetch_per_interval(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    attacker = SigningKey("EdDSA", kid="x", variant=8)
    with make_client() as client:  # the default interval, 10 s
        for n in range(50):
            attacker.kid = f"junk-{n}"
            assert_invalid(client, attacker.token(keys.url))
        assert keys.fetches == 2  # the start-up fetch and one refetch
        assert status_of(client, eddsa.token(keys.url)) == 200


def test_jwks_fetches_are_counted_in_the_metrics(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    with make_client(metrics_enabled=True) as client:
        before = client.get("/metrics").text
        rotated = SigningKey("EdDSA", kid="ed-key-metrics", variant=9)
        keys.publish(eddsa, rotated)
        assert status_of(client, rotated.token(keys.url)) == 200
        after = client.get("/metrics").text

    def fetched(text: str) -> float:
        prefix = 'todo_api_jwks_refreshes_total{outcome="ok"}'
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))

    assert fetched(after) == fetched(before) + 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def clocked_cache(keys: KeyServer, clock: FakeClock) -> JwksKeys:
    """The key cache on `keys`, with a 10 s refetch floor and a 300 s age, on a fake clock."""
    return JwksKeys(
        keys.jwks_url,
        algorithms=ALGORITHMS,
        refetch_interval=10,
        max_age=300,
        timeout=5,
        clock=clock,
    )


def test_refetch_floor_counts_from_the_last_refetch(keys: KeyServer) -> None:
    clock = FakeClock()
    keys.publish(SigningKey("EdDSA", kid="old"))
    cache = clocked_cache(keys, clock)

    async def junk(kid: str) -> None:
        with pytest.raises(KeyNotFound):
            await cache.key_for(kid, "EdDSA")

    async def scenario() -> None:
        async with cache.open():
            assert keys.fetches == 1
            await junk("junk-1")
            assert keys.fetches == 2
            clock.now += 9.9
            await junk("junk-2")
            assert keys.fetches == 2
            clock.now += 0.1
            await junk("junk-3")
            assert keys.fetches == 3
            await junk("junk-4")
            assert keys.fetches == 3

    asyncio.run(scenario())


def test_jwks_down_is_503_only_for_tokens_that_need_a_fetch(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    rotated = SigningKey("EdDSA", kid="ed-key-2", variant=9)
    with make_client(jwks_refetch_interval_seconds=1.0) as client:
        keys.status = 500
        keys.publish(eddsa, rotated)
        response = client.get("/api/alice/tasks", headers=bearer(rotated.token(keys.url)))
        assert response.status_code == 503
        assert response.json() == {
            "detail": "The keys to verify this token are unavailable; try again shortly",
            "error_code": "AUTH_KEYS_UNAVAILABLE",
        }
        assert "x-request-id" in response.headers
        # Within the interval the JWKS is not asked again, and the answer stays 503.
        assert status_of(client, rotated.token(keys.url)) == 503
        assert keys.fetches == 2
        # Cached keys and the shared secret keep working.
        assert status_of(client, eddsa.token(keys.url)) == 200
        assert status_of(client, make_token("alice")) == 200
        # Back up: the next token that needs the key gets it.
        keys.status = 200
        time.sleep(1.05)
        assert status_of(client, rotated.token(keys.url)) == 200


def test_jwks_unreachable_at_start_is_a_warning_then_retried(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    keys.status = 503
    with caplog.at_level(logging.WARNING, logger="todo_api.auth.jwks"), make_client() as client:
        assert "not reachable at start" in caplog.text
        assert status_of(client, make_token("alice")) == 200
        keys.status = 200
        assert status_of(client, eddsa.token(keys.url)) == 200


def test_jwks_server_gone_entirely(settings: Settings, keys: KeyServer, eddsa: SigningKey) -> None:
    url = keys.url
    keys.stop()  # nothing listens there any more: connection refused
    app = create_app(
        Settings(
            database_url=settings.database_url,
            better_auth_secret=SECRET,
            better_auth_url=url,
            _env_file=None,
        )
    )
    with TestClient(app) as client:
        assert status_of(client, eddsa.token(url)) == 503
        assert status_of(client, make_token("alice")) == 200


def test_jwks_that_does_not_answer_in_time(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    with make_client(jwks_timeout_seconds=0.3, jwks_refetch_interval_seconds=0.1) as client:
        keys.delay = 2.0
        started = time.monotonic()
        assert status_of(client, SigningKey("EdDSA", kid="new", variant=10).token(keys.url)) == 503
        assert time.monotonic() - started < 1.5
        assert status_of(client, eddsa.token(keys.url)) == 200
        keys.delay = 0


def test_expired_cache_drops_keys_no_longer_published(
    make_client: ClientFactory, keys: KeyServer, eddsa: SigningKey
) -> None:
    rotated = SigningKey("EdDSA", kid="ed-key-2", variant=11)
    with make_client(jwks_cache_seconds=0.3, jwks_refetch_interval_seconds=0.1) as client:
        assert status_of(client, eddsa.token(keys.url)) == 200
        keys.publish(rotated)  # the old key is withdrawn
        time.sleep(0.35)
        assert_invalid(client, eddsa.token(keys.url))
        assert status_of(client, rotated.token(keys.url)) == 200


def test_expired_cache_keeps_working_while_the_jwks_is_down(keys: KeyServer) -> None:
    clock = FakeClock()
    old, new = SigningKey("EdDSA", kid="old"), SigningKey("EdDSA", kid="new", variant=13)
    keys.publish(old)
    cache = clocked_cache(keys, clock)

    async def scenario() -> None:
        async with cache.open():
            keys.status = 500
            clock.now += 300
            for _ in range(5):  # stale: one refresh is tried, it fails, the cached key is used
                assert (await cache.key_for("old", "EdDSA")).kid == "old"
            assert keys.fetches == 2
            clock.now += 10
            assert (await cache.key_for("old", "EdDSA")).kid == "old"
            assert keys.fetches == 3
            # Back, without the old key: the next refresh drops it.
            keys.status = 200
            keys.publish(new)
            clock.now += 10
            with pytest.raises(KeyNotFound):
                await cache.key_for("old", "EdDSA")
            assert (await cache.key_for("new", "EdDSA")).kid == "new"
            assert keys.fetches == 4

    asyncio.run(scenario())


def test_concurrent_requests_for_a_new_kid_share_one_fetch(keys: KeyServer) -> None:
    """Single flight: fifty requests naming a new key at once cause one fetch between them."""
    old, new = SigningKey("EdDSA", kid="old"), SigningKey("EdDSA", kid="new", variant=12)
    keys.publish(old)

    async def scenario() -> None:
        cache = JwksKeys(
            keys.jwks_url, algorithms=ALGORITHMS, refetch_interval=10, max_age=300, timeout=5
        )
        async with cache.open():
            keys.publish(old, new)
            keys.delay = 0.2
            found = await asyncio.gather(*(cache.key_for("new", "EdDSA") for _ in range(50)))
            assert {key.kid for key in found} == {"new"}
            with pytest.raises(KeyNotFound):
                await cache.key_for("new", "RS256")
            junk = await asyncio.gather(
                *(cache.key_for(f"junk-{n}", "EdDSA") for n in range(50)), return_exceptions=True
            )
            assert all(isinstance(result, KeyNotFound) for result in junk)

    asyncio.run(scenario())
    # Start, and the new kid; the junk came within the interval after that refetch: no fetch.
    assert keys.fetches == 2


def test_key_cache_not_open_means_unavailable() -> None:
    cache = JwksKeys(
        "http://127.0.0.1:9/jwks", algorithms=ALGORITHMS, refetch_interval=1, max_age=1, timeout=1
    )
    with pytest.raises(KeysUnavailable):
        asyncio.run(cache.key_for("any", "EdDSA"))


def test_the_service_fetches_only_the_configured_url(
    client: TestClient, keys: KeyServer, eddsa: SigningKey
) -> None:
    client.get("/api/alice/tasks", headers=bearer(eddsa.token(keys.url)))
    assert set(keys.requests) == {"/api/auth/jwks"}
    assert httpx.get(keys.jwks_url).json()["keys"][0]["kid"] == eddsa.kid
