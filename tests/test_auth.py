"""Token rules with the shared secret, and the order of checks: 401, then 403, then 422."""

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from tests.conftest import SECRET, Api, auth, make_token
from todo_api.app import create_app
from todo_api.settings import Settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_401(response: object, code: str) -> None:
    assert response.status_code == 401, response.text  # type: ignore[attr-defined]
    assert response.json()["error_code"] == code  # type: ignore[attr-defined]
    challenge = response.headers["www-authenticate"]  # type: ignore[attr-defined]
    assert challenge.startswith("Bearer")
    assert ('error="invalid_token"' in challenge) == (code == "INVALID_TOKEN")


def test_missing_token(api: Api) -> None:
    assert_401(api.client.get("/api/alice/tasks"), "NOT_AUTHENTICATED")


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Token abc", "bearer"]
)
def test_malformed_authorization_header(api: Api, header: str) -> None:
    assert_401(
        api.client.get("/api/alice/tasks", headers={"Authorization": header}), "INVALID_TOKEN"
    )


def test_scheme_is_case_insensitive(api: Api) -> None:
    token = make_token("alice")
    response = api.client.get("/api/alice/tasks", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms_are_accepted(api: Api, algorithm: str) -> None:
    response = api.client.get("/api/alice/tasks", headers=auth("alice", algorithm=algorithm))
    assert response.status_code == 200


def _none_token() -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": "alice", "exp": 9_999_999_999}).encode())
    return f"{header}.{payload}."


def _eddsa_token() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return jwt.encode({"sub": "alice", "exp": 9_999_999_999}, key, algorithm="EdDSA")


def _tampered() -> str:
    header, payload, signature = make_token("bob").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "alice"
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            make_token("alice", secret="another-secret-that-is-long-enough-0000"), id="wrong-secret"
        ),
        pytest.param(make_token("alice", lifetime=timedelta(minutes=-5)), id="expired"),
        pytest.param(make_token("alice", nbf=9_999_999_999), id="not-yet-valid"),
        pytest.param(jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(make_token(None), id="no-sub"),
        pytest.param(make_token(""), id="empty-sub"),
        pytest.param(make_token(None, user={"name": "no id"}), id="user-without-id"),
        pytest.param(make_token("alice\nadmin"), id="control-character-in-sub"),
        pytest.param(_none_token(), id="alg-none"),
        pytest.param(_eddsa_token(), id="asymmetric-without-keys"),
        pytest.param(_tampered(), id="tampered-payload"),
        pytest.param("not.a.jwt", id="junk"),
        pytest.param("x" * 10_240, id="10kb-junk"),
    ],
)
def test_rejected_tokens(api: Api, token: str) -> None:
    assert_401(api.client.get("/api/alice/tasks", headers=bearer(token)), "INVALID_TOKEN")


def test_clock_leeway_accepts_a_token_just_expired(api: Api) -> None:
    token = make_token("alice", lifetime=timedelta(seconds=-3))
    assert api.client.get("/api/alice/tasks", headers=bearer(token)).status_code == 200


def test_cookie_cache_token_user_id_comes_from_user_id(api: Api) -> None:
    token = make_token(
        None,
        session={"id": "s1", "userId": "alice", "token": "raw-session-token"},
        user={"id": "alice", "email": "alice@example.com"},
    )
    assert api.client.get("/api/alice/tasks", headers=bearer(token)).status_code == 200
    assert api.client.get("/api/bob/tasks", headers=bearer(token)).status_code == 403


def test_token_in_query_string_or_cookie_does_not_authenticate(api: Api) -> None:
    token = make_token("alice")
    assert_401(api.client.get(f"/api/alice/tasks?token={token}"), "NOT_AUTHENTICATED")
    assert_401(api.client.get(f"/api/alice/tasks?access_token={token}"), "NOT_AUTHENTICATED")
    api.client.cookies.set("better-auth.session_token", token)
    try:
        assert_401(api.client.get("/api/alice/tasks"), "NOT_AUTHENTICATED")
    finally:
        api.client.cookies.clear()


def test_401_comes_before_anything_in_the_body(api: Api) -> None:
    for content in (b"{broken json", b'{"title": ""}', b"x" * 1_000_000):
        response = api.client.post(
            "/api/alice/tasks", content=content, headers={"Content-Type": "application/json"}
        )
        assert_401(response, "NOT_AUTHENTICATED")
    assert api.rows() == []


def test_403_comes_before_a_malformed_body_or_path(api: Api) -> None:
    headers = {**auth("bob"), "Content-Type": "application/json"}
    assert (
        api.client.post("/api/alice/tasks", content=b"{broken", headers=headers).status_code == 403
    )
    assert api.client.get("/api/alice/tasks/not-a-number", headers=headers).status_code == 403


def test_422_for_a_malformed_body_of_the_right_user(api: Api) -> None:
    headers = {**auth("alice"), "Content-Type": "application/json"}
    assert (
        api.client.post("/api/alice/tasks", content=b"{broken", headers=headers).status_code == 422
    )


def test_401_body_does_not_say_why_a_signature_failed(api: Api) -> None:
    token = make_token("alice", secret="another-secret-that-is-long-enough-0000")
    body = api.client.get("/api/alice/tasks", headers=bearer(token)).text.lower()
    assert "signature" not in body and "jwt" not in body


def test_a_remembered_token_still_expires(settings: Settings) -> None:
    strict = settings.model_copy(update={"jwt_leeway_seconds": 0})
    with TestClient(create_app(strict)) as client:
        # Minted once the app is up (its start took over a second in one CI run), and `exp` is in
        # whole seconds: a lifetime of 3 s leaves the two requests 2 to 3 s.
        token = make_token("alice", lifetime=timedelta(seconds=3))
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        assert client.get("/api/alice/tasks", headers=bearer(token)).status_code == 200
        assert client.get("/api/alice/tasks", headers=bearer(token)).status_code == 200
        time.sleep(max(0.0, expires - time.time()) + 0.1)
        assert_401(client.get("/api/alice/tasks", headers=bearer(token)), "INVALID_TOKEN")
