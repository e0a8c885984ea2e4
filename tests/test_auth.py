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
from todo_api.auth import tokens
from todo_api.core.settings import Settings


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
    response = api.client.get("/api/alice/tasks", headers={"Authorization": header})
    assert_401(response, "INVALID_TOKEN")
    assert response.json()["detail"] == tokens.NOT_BEARER


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


# Better Auth's session token (what `authClient.getSession()` and its cookie hold): 32 letters
# and digits, not a JWT. Sending it is the commonest mistake of a newcomer.
SESSION_TOKEN = "rT7mJ2qXb9KcW4nVz8LpA3sHd6FyG1uE"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(
            make_token("alice", secret="another-secret-that-is-long-enough-0000"),
            tokens.BAD_SIGNATURE,
            id="wrong-secret",
        ),
        pytest.param(
            make_token("alice", lifetime=timedelta(minutes=-5)), tokens.EXPIRED, id="expired"
        ),
        pytest.param(make_token("alice", nbf=9_999_999_999), tokens.NOT_YET_VALID, id="nbf"),
        pytest.param(
            jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),
            tokens.MISSING_CLAIM,
            id="no-exp",
        ),
        pytest.param(make_token(None), tokens.NO_USER, id="no-sub"),
        pytest.param(make_token(""), tokens.NO_USER, id="empty-sub"),
        pytest.param(make_token(None, user={"name": "no id"}), tokens.NO_USER, id="user-no-id"),
        pytest.param(make_token("alice\nadmin"), tokens.NO_USER, id="control-character-in-sub"),
        pytest.param(_none_token(), tokens.WRONG_ALGORITHM, id="alg-none"),
        pytest.param(_eddsa_token(), tokens.WRONG_ALGORITHM, id="asymmetric-without-keys"),
        pytest.param(_tampered(), tokens.BAD_SIGNATURE, id="tampered-payload"),
        pytest.param("not.a.jwt", tokens.NOT_A_JWT, id="junk"),
        pytest.param("x" * 10_240, tokens.NOT_A_JWT, id="10kb-junk"),
        pytest.param(SESSION_TOKEN, tokens.NOT_A_JWT, id="better-auth-session-token"),
        pytest.param(SESSION_TOKEN + ".c2lnbmF0dXJl", tokens.NOT_A_JWT, id="signed-cookie"),
    ],
)
def test_rejected_tokens_say_which_case(api: Api, token: str, reason: str) -> None:
    response = api.client.get("/api/alice/tasks", headers=bearer(token))
    assert_401(response, "INVALID_TOKEN")
    assert response.json()["detail"] == reason
    assert f'error_description="{reason}"' in response.headers["www-authenticate"]


def test_a_session_token_is_told_where_the_jwt_comes_from(api: Api) -> None:
    detail = api.client.get("/api/alice/tasks", headers=bearer(SESSION_TOKEN)).json()["detail"]
    assert "/api/auth/token" in detail and "authClient.token()" in detail


@pytest.mark.parametrize(
    "reason",
    [
        tokens.NOT_BEARER,
        tokens.NOT_A_JWT,
        tokens.EXPIRED,
        tokens.NOT_YET_VALID,
        tokens.NOT_FOR_THIS_API,
        tokens.BAD_SIGNATURE,
        tokens.MISSING_CLAIM,
        tokens.WRONG_ALGORITHM,
        tokens.NO_USER,
        tokens.NOT_ACCEPTED,
    ],
)
def test_reasons_fit_in_a_quoted_header_value(reason: str) -> None:
    # RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
    assert all(0x20 <= ord(char) <= 0x7E and char not in '"\\' for char in reason)


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


def test_401_says_a_signature_failed_but_not_why(api: Api) -> None:
    token = make_token("alice", secret="another-secret-that-is-long-enough-0000")
    response = api.client.get("/api/alice/tasks", headers=bearer(token))
    for text in (response.text, response.headers["www-authenticate"]):
        assert "InvalidSignatureError" not in text and SECRET not in text
        assert token.split(".")[2] not in text


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
