"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), in process,
on SQLite and on PostgreSQL: no answer is a 5xx, and every answer is one the schema documents
(status, content type, headers, body).

The token is made for whatever `user_id` the case puts in the path, so that cases get past
authentication into validation and storage; a second test sends bad tokens, which must all be
401. FUZZ_EXAMPLES sets the cases per operation and test: 10 in a plain run, 25 in CI (.ci/run).
"""

import base64
import json
import os
import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx2
import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.case import Case as GenericCase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Api, make_token
from todo_api.core.models import TITLE_MAX
from todo_api.openapi import openapi_json
from todo_api.tasks.conditional import ENTITY_TAGS_PATTERN

# A schema-valid request may still be refused for the state it meets: 412 when If-Match names
# another version than the task's (the default list has 404 and 409 for the same reason).
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
            }
        }
    }
)
SCHEMA = schemathesis.openapi.from_dict(json.loads(openapi_json()), config=CONFIG)
Case = GenericCase[Any]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)


def is_positive(case: Case) -> bool:
    """A case the schema says is valid (the rest are deliberately invalid: negative cases)."""
    return case.meta is not None and case.meta.generation.mode.is_positive


def send(api: Api, case: Case, headers: dict[str, str]) -> httpx2.Response:
    """The case as a request through the test client, which keeps the app (and its database
    pool) running on one event loop for the whole session."""
    # A valid key must be fresh: the same key with another body is rightly refused (422).
    if is_positive(case) and any(name.lower() == "idempotency-key" for name in case.headers or {}):
        headers = headers | {"Idempotency-Key": uuid.uuid4().hex}
    # A cursor is valid only as a Link header gave it (tests/test_listing.py walks them); a
    # made-up one is rightly a 422 INVALID_CURSOR, however well it fits the schema.
    if is_positive(case) and case.query:
        case.query.pop("cursor", None)
        case.query.pop("since", None)  # the same for a sync's cursor
    # Likewise a recurrence rule: valid only as RFC 5545 reads it (tests/test_recurrence.py),
    # which no JSON Schema can say of a string.
    if is_positive(case) and isinstance(case.body, dict):
        case.body.pop("recurrence", None)
    # And quick add's text: the title it leaves must fit a title (200 characters), which depends
    # on what is read out of it.
    if is_positive(case) and case.path.endswith("/quick") and isinstance(case.body, dict):
        text = case.body.get("text")
        if isinstance(text, str):
            case.body["text"] = text[:TITLE_MAX]
    # Schemathesis's coverage phase fills an optional header it is not testing with `0`,
    # whatever its pattern: such an If-Match is rightly a 400, not a valid request.
    if is_positive(case) and case.headers:
        for name in ("If-Match", "If-None-Match"):
            value = case.headers.get(name)
            if isinstance(value, str) and not re.fullmatch(ENTITY_TAGS_PATTERN, value):
                del case.headers[name]
    # And a reminders window: `to` after `from` (default now), by at most 31 days.
    if is_positive(case) and case.path.endswith("/reminders") and case.query:
        case.query.pop("to", None)
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), str | bytes):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    # Generated header values may be any text: sent as UTF-8 bytes, as a hostile client could.
    raw_headers = {
        name: value.encode() if isinstance(value, str) else value
        for name, value in (kwargs.get("headers") or {}).items()
    }
    response: httpx2.Response = api.client.request(
        kwargs["method"], kwargs["url"], headers=raw_headers, params=kwargs.get("params"), **body
    )
    return response


def negates_the_token(case: Case) -> bool:
    """A negative case made invalid (in part) by its Authorization header, missing or malformed.
    A valid token in its place leaves only the case's other mutations, which may not reach the
    request at all (an undeclared query parameter that serialized to nothing: a valid request,
    answered 200, that schemathesis still counted as invalid in CI). Such a case is sent with its
    own header, and must be 401."""
    mutations = case.meta.phase.data.mutations if case.meta is not None else ()
    return any(
        m.parameter_location == ParameterLocation.HEADER
        and (m.parameter or "").lower() == "authorization"
        for m in mutations
    )


def with_an_existing_task(api: Api, case: Case, headers: dict[str, str]) -> None:
    """Most generated task ids name no task (404); in half of the valid cases, name a real one of
    the user's, so that updates, toggles and deletes of stored rows are fuzzed too."""
    parameters = case.path_parameters or {}
    task_id = parameters.get("task_id")
    if not is_positive(case) or not isinstance(task_id, int) or task_id % 2:
        return
    # With a due date: a patch that sends only a due_time is valid for such a task.
    response = api.client.post(
        f"/api/{quote(parameters['user_id'], safe='')}/tasks",
        json={"title": "fuzzed", "due_date": "2026-01-01"},
        headers=headers,
    )
    if response.status_code == 201:
        parameters["task_id"] = response.json()["id"]


# An event stream with a valid token never ends; tests/test_events.py reads it from a real server.
@SCHEMA.exclude(operation_id="streamEvents").parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_a_valid_token(case: Case, running_api: Api) -> None:
    user_id = (case.path_parameters or {}).get("user_id")
    headers = {}
    if isinstance(user_id, str) and user_id and not negates_the_token(case):
        headers["Authorization"] = f"Bearer {make_token(user_id)}"
        with_an_existing_task(running_api, case, headers)
    response = send(running_api, case, headers)
    if negates_the_token(case) and isinstance(user_id, str) and user_id:
        assert response.status_code == 401, response.text
    case.validate_response(response, checks=CHECKS)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    """The same signature over a payload that now names another user."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64({'sub': 'mallory', 'exp': 4102444800})}.{signature}"


BAD_TOKENS = [
    "",  # no Authorization header at all
    "not-a-jwt",
    make_token("alice", secret="another-secret-that-is-long-enough-for-hs256-0123456789"),
    make_token("alice", lifetime=timedelta(minutes=-10)),
    _tampered(make_token("alice")),
    f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 'alice', 'exp': 4102444800})}.",
]


API_SCHEMA = SCHEMA.include(path_regex="^/api/")


@API_SCHEMA.parametrize()
@FUZZ_SETTINGS
@API_SCHEMA.given(token=hypothesis.strategies.sampled_from(BAD_TOKENS))
def test_fuzz_with_bad_tokens_is_always_401(case: Case, token: str, running_api: Api) -> None:
    response = send(running_api, case, {"Authorization": f"Bearer {token}"} if token else {})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    case.validate_response(response, checks=CHECKS)
