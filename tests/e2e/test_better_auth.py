"""A real Better Auth server (npm better-auth, tests/e2e/node) signs people up and hands out
tokens; our real service (`todo-api serve`) verifies them, fetching the keys over HTTP.

Every token form Better Auth produces, each in the configuration that accepts it: the JWT
plugin's token for every signing algorithm, and the session cookie-cache token signed with the
secret or with the JWKS key. Then a key rotation: Better Auth restarted with a new key.
"""

from pathlib import Path

import httpx
import jwt
import pytest

from tests.e2e.harness import AUTH_SECRET, AuthServer
from tests.serving import Service
from todo_api.core.settings import Settings

pytestmark = pytest.mark.e2e

Processes = list[AuthServer | Service]


def start_auth(processes: Processes, tmp_path: Path, **options: object) -> AuthServer:
    server = AuthServer(tmp_path, **options)  # type: ignore[arg-type]
    processes.append(server)
    return server.start()


def start_service(processes: Processes, tmp_path: Path, **settings: str) -> Service:
    service = Service(tmp_path, settings)
    processes.append(service)
    return service.start()


def status(service: Service, user_id: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{service.url}/api/{user_id}/tasks", headers=headers).status_code


def exercise_the_api(api: str, alice: tuple[str, str], bob: tuple[str, str]) -> None:
    """Every endpoint, as two users: each sees and changes only their own tasks."""
    (alice_id, alice_token), (bob_id, bob_token) = alice, bob
    as_alice = {"Authorization": f"Bearer {alice_token}"}
    as_bob = {"Authorization": f"Bearer {bob_token}"}
    mine, theirs = f"/api/{alice_id}/tasks", f"/api/{bob_id}/tasks"
    with httpx.Client(base_url=api, timeout=30) as http:
        listed = http.get(mine, headers=as_alice)
        assert (listed.status_code, listed.json()) == (200, [])

        created = http.post(
            mine, json={"title": "Buy milk 🥛", "description": "2 litres"}, headers=as_alice
        )
        assert created.status_code == 201, created.text
        task = created.json()
        assert (task["user_id"], task["completed"]) == (alice_id, False)
        one = f"{mine}/{task['id']}"

        got = http.get(one, headers=as_alice)
        assert (got.status_code, got.json()) == (200, task)

        updated = http.put(one, json={"title": "Buy oat milk", "completed": True}, headers=as_alice)
        assert updated.status_code == 200, updated.text
        assert updated.json()["title"] == "Buy oat milk"
        assert updated.json()["description"] == "2 litres"
        assert updated.json()["completed"] is True

        toggled = http.patch(f"{one}/complete", headers=as_alice)
        assert (toggled.status_code, toggled.json()["completed"]) == (200, False)
        toggled = http.patch(f"{one}/complete", headers=as_alice)
        assert (toggled.status_code, toggled.json()["completed"]) == (200, True)

        bobs = http.post(theirs, json={"title": "Bob's task"}, headers=as_bob)
        assert bobs.status_code == 201, bobs.text

        # Isolation: each list holds only its owner's tasks; the other's path is 403, and the
        # other's task id under one's own path is "not found".
        assert [t["id"] for t in http.get(mine, headers=as_alice).json()] == [task["id"]]
        assert [t["id"] for t in http.get(theirs, headers=as_bob).json()] == [bobs.json()["id"]]
        assert http.get(mine, headers=as_bob).status_code == 403
        assert http.get(theirs, headers=as_alice).status_code == 403
        assert http.get(one, headers=as_bob).status_code == 403
        assert http.put(one, json={"title": "mine now"}, headers=as_bob).status_code == 403
        assert http.patch(f"{one}/complete", headers=as_bob).status_code == 403
        assert http.delete(one, headers=as_bob).status_code == 403
        assert http.get(f"{theirs}/{task['id']}", headers=as_bob).status_code == 404
        assert http.get(one, headers=as_alice).json()["title"] == "Buy oat milk"

        deleted = http.delete(one, headers=as_alice)
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert http.get(one, headers=as_alice).status_code == 404
        assert http.get(mine).status_code == 401
        assert http.delete(f"{theirs}/{bobs.json()['id']}", headers=as_bob).status_code == 204


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "ES512", "RS256", "PS256"])
def test_jwt_plugin_tokens_verified_with_the_jwks(
    settings: Settings, processes: Processes, tmp_path: Path, algorithm: str
) -> None:
    auth = start_auth(processes, tmp_path, jwt_alg=algorithm, cookie_cache="jwks")
    # JWKS only: no shared secret at all.
    service = start_service(
        processes, tmp_path, DATABASE_URL=str(settings.database_url), BETTER_AUTH_URL=auth.url
    )
    alice, bob = auth.sign_up("Alice"), auth.sign_up("Bob")
    assert jwt.get_unverified_header(alice.token)["alg"] == algorithm
    assert jwt.decode(alice.token, options={"verify_signature": False})["iss"] == auth.url

    exercise_the_api(service.url, (alice.id, alice.token), (bob.id, bob.token))

    # The same kind of JWT, from the set-auth-jwt header of get-session.
    assert status(service, alice.id, alice.jwt_from_get_session()) == 200
    # Its session cookie-cache token is signed with the same key, but is refused unless
    # ACCEPT_SESSION_CACHE_JWT is on; and the secret's HMAC tokens are refused without a secret.
    assert alice.session_cache is not None
    assert status(service, alice.id, alice.session_cache) == 401
    hmac_token = jwt.encode({"sub": alice.id, "exp": 9_999_999_999}, AUTH_SECRET)
    assert status(service, alice.id, hmac_token) == 401


def test_session_cache_jwt_signed_with_the_shared_secret(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    auth = start_auth(processes, tmp_path, cookie_cache="hs256")
    # Shared secret only: no BETTER_AUTH_URL.
    service = start_service(
        processes, tmp_path, DATABASE_URL=str(settings.database_url), BETTER_AUTH_SECRET=AUTH_SECRET
    )
    alice, bob = auth.sign_up("Alice"), auth.sign_up("Bob")
    assert alice.session_cache is not None and bob.session_cache is not None
    assert jwt.get_unverified_header(alice.session_cache)["alg"] == "HS256"
    claims = jwt.decode(alice.session_cache, options={"verify_signature": False})
    assert "sub" not in claims and claims["user"]["id"] == alice.id

    exercise_the_api(service.url, (alice.id, alice.session_cache), (bob.id, bob.session_cache))

    # The JWT plugin's token needs the JWKS, which this service was not given.
    assert status(service, alice.id, alice.token) == 401


def test_session_cache_jwt_signed_with_the_jwks_key_when_enabled(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    auth = start_auth(processes, tmp_path, cookie_cache="jwks")
    service = start_service(
        processes,
        tmp_path,
        DATABASE_URL=str(settings.database_url),
        BETTER_AUTH_URL=auth.url,
        ACCEPT_SESSION_CACHE_JWT="true",
    )
    alice, bob = auth.sign_up("Alice"), auth.sign_up("Bob")
    assert alice.session_cache is not None and bob.session_cache is not None
    header = jwt.get_unverified_header(alice.session_cache)
    assert (header["alg"], header["typ"]) == ("EdDSA", "better-auth.session-cache+jwt")
    claims = jwt.decode(alice.session_cache, options={"verify_signature": False})
    assert claims["aud"] == "better-auth:session-cache"

    exercise_the_api(service.url, (alice.id, alice.session_cache), (bob.id, bob.session_cache))
    assert status(service, alice.id, alice.token) == 200  # the plugin's token as well


def test_key_rotation_new_key_works_at_once_old_key_fails(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    auth = start_auth(processes, tmp_path)
    service = start_service(
        processes, tmp_path, DATABASE_URL=str(settings.database_url), BETTER_AUTH_URL=auth.url
    )
    before = auth.sign_up("Alice")
    old_kid = jwt.get_unverified_header(before.token)["kid"]
    assert status(service, before.id, before.token) == 200

    auth.restart()  # memory storage: a new signing key, and the old one is gone from the JWKS
    after = auth.sign_up("Alice")
    new_kid = jwt.get_unverified_header(after.token)["kid"]
    assert new_kid != old_kid
    assert [key["kid"] for key in auth.jwks()["keys"]] == [new_kid]

    # The very first request with the new key succeeds: no retry, no waiting.
    assert status(service, after.id, after.token) == 200
    assert status(service, before.id, before.token) == 401
    bob = auth.sign_up("Bob")
    exercise_the_api(service.url, (after.id, after.token), (bob.id, bob.token))
    assert status(service, before.id, before.token) == 401
