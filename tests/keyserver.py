"""Test helpers: locally generated signing keys, and a tiny JWKS server on 127.0.0.1 that
records every request it gets (so a test can count fetches, or prove that nothing was fetched)."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

JWKS_PATH = "/api/auth/jwks"


@cache
def _private_key(algorithm: str, variant: int) -> Any:
    """Key generation (RSA above all) is slow: each (algorithm, variant) is made once per run."""
    del variant  # only part of the cache key
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    if algorithm in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "RS256-1024":
        # An attacker's weak key, which the service must refuse to use.
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    raise ValueError(algorithm)


@dataclass
class SigningKey:
    """A key pair like one Better Auth's JWT plugin makes: it signs, its public half is a JWK."""

    algorithm: str
    kid: str
    variant: int = 0
    private: Any = field(init=False)

    def __post_init__(self) -> None:
        self.private = _private_key(self.algorithm, self.variant)

    @property
    def signing_algorithm(self) -> str:
        return self.algorithm.split("-")[0]

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        data: dict[str, Any] = jwt.get_algorithm_by_name(self.signing_algorithm).to_jwk(
            public, as_dict=True
        )
        data.update(kid=self.kid, alg=self.signing_algorithm, **extra)
        return data

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.private, algorithm=self.signing_algorithm, headers=headers)

    def token(
        self,
        issuer: str,
        *,
        user_id: str | None = "alice",
        audience: str | None = None,
        lifetime: timedelta = timedelta(minutes=15),
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A JWT-plugin token: `iss` and `aud` the origin of Better Auth's base URL."""
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "iat": now,
            "exp": now + lifetime,
            "iss": issuer,
            "aud": issuer if audience is None else audience,
        }
        if user_id is not None:
            payload.update(sub=user_id, id=user_id)
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return self.sign(payload, **(header or {}))


class KeyServer:
    """Serves `jwks` at JWKS_PATH (and any other path: 404), counting requests by path."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.status = 200
        self.delay = 0.0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    @property
    def fetches(self) -> int:
        with self._lock:
            return self.requests.count(JWKS_PATH)

    def publish(self, *keys: SigningKey | dict[str, Any]) -> None:
        self.jwks = {"keys": [key.jwk() if isinstance(key, SigningKey) else key for key in keys]}

    def start(self) -> "KeyServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(self.path)
                if server.delay:
                    time.sleep(server.delay)
                if self.path != JWKS_PATH:
                    self._answer(404, b'{"error": "not found"}')
                elif server.status != 200:
                    self._answer(server.status, b'{"error": "unavailable"}')
                else:
                    self._answer(200, json.dumps(server.jwks).encode())

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def key_server() -> Iterator[KeyServer]:
    server = KeyServer().start()
    try:
        yield server
    finally:
        server.stop()
