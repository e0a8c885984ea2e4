"""The MCP server at /mcp, as a chatbot reaches it: the official SDK's client over real HTTP,
against `todo-api serve` on each database, in both protocol eras (the 2026-07-28 revision, and
the `initialize` handshake that older clients open with). Every effect is checked through the
REST API, whose answers the tools' results must equal."""

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import httpx2
import orjson
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import ProtectedResourceMetadata
from mcp_types import CallToolResult, TextContent

from tests.conftest import SECRET, make_token
from tests.keyserver import KeyServer, SigningKey, key_server
from tests.serving import Service
from todo_api.core.settings import Settings
from todo_api.tasks.listing import ListParams
from todo_api.tasks.schemas import TaskCreate, TaskPatch, TaskPublic

TASK_LIMIT = 6
REFETCH_SECONDS = 0.2
ERAS = ["auto", "legacy"]  # 2026-07-28, and the initialize handshake
TOOL_NAMES = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyServer]:
    """Better Auth's JWKS, played by a local key server."""
    with key_server() as server:
        yield server


@pytest.fixture(scope="module")
def eddsa(keys: KeyServer) -> SigningKey:
    key = SigningKey("EdDSA", kid="mcp-ed-key")
    keys.publish(key)
    return key


@pytest.fixture(scope="module")
def service(
    settings: Settings, keys: KeyServer, eddsa: SigningKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`todo-api serve` on the test database (migrated by `settings`), taking both kinds of
    token: the shared secret's and Better Auth's published keys'."""
    running = Service(
        tmp_path_factory.mktemp("mcp"),
        {
            "DATABASE_URL": str(settings.database_url),
            "BETTER_AUTH_SECRET": SECRET,
            "BETTER_AUTH_URL": keys.url,
            "MAX_TASKS_PER_USER": str(TASK_LIMIT),
            # An unknown kid may cause a fetch of the keys this soon after the previous one.
            "JWKS_REFETCH_INTERVAL_SECONDS": str(REFETCH_SECONDS),
        },
    )
    running.start()
    yield running
    running.stop()


@dataclass
class Person:
    """A user of their own (tests share the service, never a user), with a token."""

    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def person(name: str = "alice") -> Person:
    user_id = f"{name}-{uuid.uuid4().hex[:8]}"
    return Person(user_id, make_token(user_id))


@asynccontextmanager
async def connected(
    service: Service, token: str | None, mode: str = "auto"
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{service.url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


def rest(service: Service) -> httpx.Client:
    return httpx.Client(base_url=service.url, timeout=30)


def text(result: CallToolResult, index: int = 0) -> str:
    block = result.content[index]
    assert isinstance(block, TextContent), block
    return block.text


def ok(result: CallToolResult) -> Any:
    """A successful result: its structured content, which its JSON text repeats after a short
    summary."""
    assert not result.is_error, result.content
    assert len(result.content) == 2, result.content
    assert text(result, 0)
    assert orjson.loads(text(result, 1)) == result.structured_content
    return result.structured_content


def failed(result: CallToolResult, error_code: str) -> dict[str, Any]:
    """A tool error: the API's error body, and a text that leads with its code."""
    assert result.is_error, result.structured_content
    body: dict[str, Any] = result.structured_content
    assert body["error_code"] == error_code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert text(result).startswith(f"{error_code}: ")
    return body


# --- the tools and their schemas ------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
def test_the_five_tools_are_listed_with_schemas_made_from_the_api_models(
    service: Service, mode: str
) -> None:
    async def scenario() -> dict[str, Any]:
        async with connected(service, person().token, mode) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    tools = asyncio.run(scenario())
    assert set(tools) == TOOL_NAMES
    schemas = {name: tool.input_schema for name, tool in tools.items()}
    for name, schema in schemas.items():
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert "user_id" in schema["properties"], name
        assert "user_id" not in schema.get("required", [])
        assert tools[name].description and tools[name].output_schema is not None
        # Self-contained (no $ref), and no enumeration too long to read.
        text = orjson.dumps(schema).decode()
        assert "$ref" not in text and "$defs" not in text
        assert all(len(enum) <= 32 for enum in _enums(schema)), name

    # Every field of the REST models, whatever fields they have today: nothing listed by hand.
    add, update, listing = schemas["add_task"], schemas["update_task"], schemas["list_tasks"]
    assert set(add["properties"]) == {*TaskCreate.model_fields, "user_id"}
    assert add["required"] == ["title"]
    assert set(update["properties"]) == {"task_id", *TaskPatch.model_fields, "user_id"}
    assert update["required"] == ["task_id"]
    assert set(listing["properties"]) == {*ListParams.model_fields, "user_id"}
    assert "required" not in listing
    for name in ("complete_task", "delete_task"):
        assert set(schemas[name]["properties"]) == {"task_id", "user_id"}
        assert schemas[name]["required"] == ["task_id"]
        assert schemas[name]["properties"]["task_id"]["type"] == "integer"

    # What a model needs to fill them: enums, limits, descriptions.
    assert listing["properties"]["status"]["enum"] == ["all", "pending", "completed"]
    assert listing["properties"]["limit"]["anyOf"][0]["maximum"] == 500
    assert "next_cursor" in listing["properties"]["cursor"]["description"]
    assert add["properties"]["priority"]["enum"] == ["none", "low", "medium", "high"]
    assert add["properties"]["title"]["maxLength"] == 200
    assert add["properties"]["tags"]["anyOf"][0]["maxItems"] == 20
    assert all(prop.get("description") for prop in add["properties"].values())
    # The model's own rule: a due time needs a due date.
    assert "due_time" in orjson.dumps({k: v for k, v in add.items() if k != "properties"}).decode()

    # Results: the task as the REST API shows it.
    assert set(tools["add_task"].output_schema["properties"]) == set(TaskPublic.model_fields)
    assert set(tools["list_tasks"].output_schema["properties"]) == {"tasks", "next_cursor"}
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations.destructive_hint is True
    assert tools["complete_task"].annotations.idempotent_hint is True


def _enums(node: Any) -> Iterator[list[Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            yield node["enum"]
        for value in node.values():
            yield from _enums(value)
    elif isinstance(node, list):
        for item in node:
            yield from _enums(item)


# --- every tool, checked through REST ---------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
def test_every_tool_changes_what_rest_shows(service: Service, mode: str) -> None:
    alice = person()
    tasks = f"/api/{alice.id}/tasks"

    async def scenario() -> None:
        async with connected(service, alice.token, mode) as client:
            added = ok(
                await client.call_tool(
                    "add_task",
                    {
                        "title": "  Buy milk  ",
                        "description": "2 litres",
                        "priority": "high",
                        "tags": ["Home", "home", "errand"],
                        "due_date": "2030-05-04",
                        "due_time": "09:30",
                        "timezone": "Europe/Berlin",
                    },
                )
            )
            with rest(service) as http:
                shown = http.get(f"{tasks}/{added['id']}", headers=alice.headers)
                assert shown.status_code == 200
                assert shown.json() == added
            assert added["title"] == "Buy milk"  # the API's own rules: trimmed, tags once
            assert added["tags"] == ["Home", "errand"]
            assert added["due_at"] == "2030-05-04T07:30:00.000000+00:00"
            assert (added["user_id"], added["completed"], added["version"]) == (alice.id, False, 1)

            second = ok(await client.call_tool("add_task", {"title": "Call Bob"}))
            listed = ok(await client.call_tool("list_tasks", {}))
            with rest(service) as http:
                assert listed == {
                    "tasks": http.get(tasks, headers=alice.headers).json(),
                    "next_cursor": None,
                }
            assert [task["id"] for task in listed["tasks"]] == [added["id"], second["id"]]

            updated = ok(
                await client.call_tool(
                    "update_task",
                    {"task_id": added["id"], "title": "Buy oat milk", "description": None},
                )
            )
            assert (updated["title"], updated["description"]) == ("Buy oat milk", None)
            assert (updated["priority"], updated["due_date"]) == ("high", "2030-05-04")
            assert updated["version"] == 2

            completed = ok(await client.call_tool("complete_task", {"task_id": added["id"]}))
            assert completed["completed"] is True and completed["completed_at"] is not None
            # Sets, never flips: completing again leaves it completed, at the same moment.
            again = ok(await client.call_tool("complete_task", {"task_id": added["id"]}))
            assert again["completed"] is True
            assert again["completed_at"] == completed["completed_at"]
            with rest(service) as http:
                assert http.get(f"{tasks}/{added['id']}", headers=alice.headers).json() == again

            deleted = ok(await client.call_tool("delete_task", {"task_id": second["id"]}))
            assert deleted == {"task_id": second["id"], "deleted": True}
            with rest(service) as http:
                gone = http.get(f"{tasks}/{second['id']}", headers=alice.headers)
                assert gone.status_code == 404
            # The token's own id may be given: it changes nothing.
            mine = ok(await client.call_tool("list_tasks", {"user_id": alice.id}))
            assert [task["id"] for task in mine["tasks"]] == [added["id"]]

    asyncio.run(scenario())


def test_results_carry_a_short_summary(service: Service) -> None:
    alice = person()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            added = await client.call_tool("add_task", {"title": "Water plants"})
            task_id = ok(added)["id"]
            assert text(added) == f"Added task {task_id}: 'Water plants'"
            listed = await client.call_tool("list_tasks", {"limit": 1})
            assert text(listed) == "1 task"
            done = await client.call_tool("complete_task", {"task_id": task_id})
            assert text(done) == f"Completed task {task_id}: 'Water plants'"
            gone = await client.call_tool("delete_task", {"task_id": task_id})
            assert text(gone) == f"Deleted task {task_id}"

    asyncio.run(scenario())


def test_completing_a_recurring_task_creates_its_next_occurrence(service: Service) -> None:
    alice = person()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            daily = ok(
                await client.call_tool(
                    "add_task",
                    {"title": "Stretch", "due_date": "2030-01-01", "recurrence": "FREQ=DAILY"},
                )
            )
            done = ok(await client.call_tool("complete_task", {"task_id": daily["id"]}))
            assert done["completed"] is True
            assert isinstance(done["next_task_id"], int)
            # Completing it again creates nothing more.
            again = ok(await client.call_tool("complete_task", {"task_id": daily["id"]}))
            assert again["next_task_id"] == done["next_task_id"]
        with rest(service) as http:
            listed = http.get(f"/api/{alice.id}/tasks", headers=alice.headers).json()
        assert [task["id"] for task in listed] == [daily["id"], done["next_task_id"]]
        following = listed[1]
        assert (following["title"], following["completed"]) == ("Stretch", False)
        assert following["recurrence"] == "FREQ=DAILY"
        assert following["due_date"] > daily["due_date"]

    asyncio.run(scenario())


def test_list_tasks_takes_the_rest_filters_and_pages_like_rest(service: Service) -> None:
    alice = person()
    with rest(service) as http:
        for title, priority, tags in [
            ("Pay rent", "high", ["home", "money"]),
            ("Buy milk", "low", ["home"]),
            ("Pay taxes", "medium", ["money"]),
            ("Read a book", "none", []),
            ("Pay the plumber", "high", ["home", "money"]),
        ]:
            created = http.post(
                f"/api/{alice.id}/tasks",
                json={"title": title, "priority": priority, "tags": tags},
                headers=alice.headers,
            )
            assert created.status_code == 201
        arguments = {"q": "pay", "tag": ["Money"], "sort": "-priority,title", "limit": 2}
        query: dict[str, Any] = {"q": "pay", "tag": "Money", "sort": "-priority,title", "limit": 2}
        first_page = http.get(f"/api/{alice.id}/tasks", params=query, headers=alice.headers)
        link_cursor = httpx.URL(first_page.links["next"]["url"]).params["cursor"]

    async def scenario() -> list[str]:
        titles: list[str] = []
        async with connected(service, alice.token) as client:
            page = ok(await client.call_tool("list_tasks", arguments))
            assert page["tasks"] == first_page.json()
            assert page["next_cursor"] == link_cursor
            titles += [task["title"] for task in page["tasks"]]
            while page["next_cursor"] is not None:
                more = {**arguments, "cursor": page["next_cursor"]}
                page = ok(await client.call_tool("list_tasks", more))
                titles += [task["title"] for task in page["tasks"]]
            pending = ok(await client.call_tool("list_tasks", {"status": "pending", "limit": 500}))
            assert len(pending["tasks"]) == 5
            high = ok(
                await client.call_tool("list_tasks", {"priority": "high,low", "has_due": False})
            )
            assert [task["title"] for task in high["tasks"]] == [
                "Pay rent",
                "Buy milk",
                "Pay the plumber",
            ]
            completed = ok(await client.call_tool("list_tasks", {"status": "completed"}))
            assert completed == {"tasks": [], "next_cursor": None}
        return titles

    assert asyncio.run(scenario()) == ["Pay rent", "Pay the plumber", "Pay taxes"]


def test_list_tasks_takes_an_empty_q_as_no_search(service: Service) -> None:
    alice = person()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            added = ok(await client.call_tool("add_task", {"title": "Water plants"}))
            listed = ok(await client.call_tool("list_tasks", {"q": ""}))
            assert [task["id"] for task in listed["tasks"]] == [added["id"]]

    asyncio.run(scenario())


def test_every_list_parameter_takes_one_item_too(service: Service) -> None:
    """Models often send one value where the schema asks for a list: each list parameter of
    each tool says it takes either, and one item is the list of that item."""
    alice = person()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            taking_lists = {
                (tool, name)
                for tool, listed in tools.items()
                for name, schema in listed.input_schema["properties"].items()
                if "array" in orjson.dumps(schema).decode()
            }
            assert taking_lists == {
                ("add_task", "tags"),
                ("add_task", "reminders"),
                ("update_task", "tags"),
                ("update_task", "reminders"),
                ("list_tasks", "tag"),
            }
            for tool, name in taking_lists:
                schema = tools[tool].input_schema["properties"][name]
                many, one = schema["anyOf"]
                assert many["type"] == "array" and one == many["items"], (tool, name)
                assert schema["description"], (tool, name)

            added = ok(
                await client.call_tool(
                    "add_task",
                    {
                        "title": "Pay rent",
                        "tags": "Work",
                        "due_date": "2030-05-04",
                        "reminders": 15,
                    },
                )
            )
            assert (added["tags"], added["reminders"]) == (["Work"], [15])
            updated = ok(
                await client.call_tool(
                    "update_task", {"task_id": added["id"], "tags": "home", "reminders": 30}
                )
            )
            assert (updated["tags"], updated["reminders"]) == (["home"], [30])
            ok(await client.call_tool("add_task", {"title": "Buy milk"}))
            listed = ok(await client.call_tool("list_tasks", {"tag": "HOME"}))
            assert listed == ok(await client.call_tool("list_tasks", {"tag": ["home"]}))
            assert [task["id"] for task in listed["tasks"]] == [added["id"]]
            with rest(service) as http:
                shown = http.get(
                    f"/api/{alice.id}/tasks", params={"tag": "HOME"}, headers=alice.headers
                )
            assert listed["tasks"] == shown.json()

    asyncio.run(scenario())


# --- isolation ----------------------------------------------------------------------------------


def test_a_token_never_reaches_another_users_tasks_through_any_tool(service: Service) -> None:
    alice, bob = person("alice"), person("bob")
    with rest(service) as http:
        created = http.post(
            f"/api/{bob.id}/tasks",
            json={"title": "Bob's secret", "tags": ["private"]},
            headers=bob.headers,
        )
        assert created.status_code == 201
        bobs = created.json()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            listings: list[dict[str, Any]] = [
                {},
                {"status": "all", "limit": 500},
                {"q": "secret"},
                {"tag": ["private"]},
                {"sort": "-id"},
            ]
            for arguments in listings:
                assert ok(await client.call_tool("list_tasks", arguments))["tasks"] == []
            one: dict[str, Any] = {"task_id": bobs["id"]}
            not_found: list[tuple[str, dict[str, Any]]] = [
                ("complete_task", one),
                ("delete_task", one),
                ("update_task", {**one, "title": "mine now", "completed": True}),
                ("update_task", one),  # an empty patch reads the task
            ]
            for tool, arguments in not_found:
                failed(await client.call_tool(tool, arguments), "TASK_NOT_FOUND")
            # Bob's id as user_id: refused before anything is read or written.
            as_bob = {"user_id": bob.id}
            forbidden: list[tuple[str, dict[str, Any]]] = [
                ("list_tasks", as_bob),
                ("add_task", {**as_bob, "title": "planted"}),
                ("complete_task", {**one, **as_bob}),
                ("delete_task", {**one, **as_bob}),
                ("update_task", {**one, **as_bob, "title": "mine now"}),
                # Any other value too, and before the other arguments are looked at.
                ("update_task", {**one, "user_id": "", "title": ""}),
                ("list_tasks", {"user_id": 42}),
            ]
            for tool, arguments in forbidden:
                failed(await client.call_tool(tool, arguments), "FORBIDDEN")
        # And the other way round: Bob's token with Alice's id.
        async with connected(service, bob.token) as client:
            result = await client.call_tool("list_tasks", {"user_id": alice.id})
            failed(result, "FORBIDDEN")

    asyncio.run(scenario())
    with rest(service) as http:
        assert http.get(f"/api/{bob.id}/tasks", headers=bob.headers).json() == [bobs]
        assert http.get(f"/api/{alice.id}/tasks", headers=alice.headers).json() == []


def test_better_auth_tokens_verified_with_its_published_keys_work_too(
    service: Service, keys: KeyServer, eddsa: SigningKey
) -> None:
    user_id = f"carol-{uuid.uuid4().hex[:8]}"
    token = eddsa.token(keys.url, user_id=user_id)

    async def scenario() -> None:
        async with connected(service, token) as client:
            added = ok(await client.call_tool("add_task", {"title": "From the JWKS"}))
            assert added["user_id"] == user_id

    asyncio.run(scenario())


# --- refused before the MCP protocol ------------------------------------------------------------


def _unauthorized(service: Service, headers: dict[str, str], error_code: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with rest(service) as http:
        response = http.post(
            "/mcp",
            json=body,
            headers={"Accept": "application/json, text/event-stream", **headers},
        )
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == error_code
    assert set(response.json()) == {"detail", "error_code"}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{service.url}{METADATA_PATH}"' in challenge
    if error_code == "INVALID_TOKEN":
        assert 'error="invalid_token"' in challenge


def test_a_request_without_a_valid_token_is_401_pointing_at_the_metadata(
    service: Service, keys: KeyServer, eddsa: SigningKey
) -> None:
    alice = person()
    _unauthorized(service, {}, "NOT_AUTHENTICATED")
    for token in [
        "not-a-jwt",
        make_token(alice.id, lifetime=timedelta(minutes=-5)),  # expired
        make_token(alice.id, secret="another-secret-long-enough-0123456789abcdefghijkl"),
        eddsa.token(keys.url, user_id=alice.id, audience="https://elsewhere.example.com"),
        eddsa.token(keys.url, user_id=alice.id, lifetime=timedelta(minutes=-5)),
    ]:
        _unauthorized(service, {"Authorization": f"Bearer {token}"}, "INVALID_TOKEN")
    _unauthorized(service, {"Authorization": f"Basic {alice.token}"}, "INVALID_TOKEN")

    # The SDK's client gets no further without a token, in either era.
    async def without_a_token(mode: str) -> None:
        async with connected(service, None, mode) as client:
            await client.list_tools()

    for mode in ERAS:
        with pytest.raises(ExceptionGroup) as refused:
            asyncio.run(without_a_token(mode))
        assert refused.group_contains(MCPError)


def test_a_token_whose_key_cannot_be_fetched_is_503_not_401(
    service: Service, keys: KeyServer
) -> None:
    rotated = SigningKey("EdDSA", kid="mcp-rotated-key", variant=1)
    token = rotated.token(keys.url, user_id=person().id)
    keys.status = 503
    try:
        time.sleep(REFETCH_SECONDS * 2)
        with rest(service) as http:
            response = http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        keys.status = 200
    assert response.status_code == 503, response.text
    assert response.json()["error_code"] == "AUTH_KEYS_UNAVAILABLE"


def test_the_protected_resource_metadata_names_better_auth(
    service: Service, keys: KeyServer
) -> None:
    with rest(service) as http:
        direct = http.get(METADATA_PATH)
        proxied = http.get(
            METADATA_PATH,
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "todo.example.com"},
        )
    assert direct.status_code == 200
    assert direct.json()["resource"] == f"{service.url}/mcp"
    assert direct.json()["authorization_servers"] == [keys.url]
    assert direct.json()["bearer_methods_supported"] == ["header"]
    metadata = ProtectedResourceMetadata.model_validate(direct.json())  # as the SDK reads it
    assert str(metadata.resource) == f"{service.url}/mcp"
    assert proxied.json()["resource"] == "https://todo.example.com/mcp"


def test_body_limit_media_type_and_methods_as_on_rest(service: Service) -> None:
    alice = person()
    accept = {"Accept": "application/json, text/event-stream"}
    too_large = orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"x": "a" * 70_000}}
    )

    def chunks() -> Iterator[bytes]:
        yield too_large[:40_000]
        yield too_large[40_000:]

    with rest(service) as http:
        json_type = {"Content-Type": "application/json", **accept}
        declared = http.post("/mcp", content=too_large, headers={**alice.headers, **json_type})
        assert declared.status_code == 413
        assert declared.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        streamed = http.post("/mcp", content=chunks(), headers={**alice.headers, **json_type})
        assert streamed.status_code == 413
        assert streamed.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        # Authentication comes first, whatever the body.
        anonymous = http.post("/mcp", content=too_large, headers=json_type)
        assert anonymous.status_code == 401
        text = http.post(
            "/mcp", content=b"{}", headers={**alice.headers, **accept, "Content-Type": "text/plain"}
        )
        assert (text.status_code, text.json()["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
        # Stateless: no standing stream to open, no session to end.
        for method in ("GET", "DELETE"):
            answer = http.request(method, "/mcp", headers={**alice.headers, **accept})
            assert answer.status_code == 405, method
            assert answer.json()["error_code"] == "METHOD_NOT_ALLOWED"
            assert answer.headers["allow"] == "POST"


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("add_task", {}, "title"),
        ("add_task", {"title": "   "}, "title"),
        ("add_task", {"title": "x", "priority": "urgent"}, "priority"),
        ("add_task", {"title": "x", "tags": 7}, "tags"),
        ("add_task", {"title": "x", "tags": ["home"] * 21}, "tags"),
        ("add_task", {"title": "x", "due_date": "2030-01-01", "reminders": "15"}, "reminders"),
        ("update_task", {"task_id": 1, "tags": None}, "tags"),
        ("list_tasks", {"tag": ""}, "tag"),
        ("add_task", {"title": "x", "due_time": "09:00"}, "due_time"),
        ("add_task", {"title": "x", "due_date": "2030-02-30"}, "due_date"),
        ("add_task", {"title": "x", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ("add_task", {"title": "x", "id": 7}, "id"),
        ("update_task", {"task_id": "12"}, "task_id"),
        ("update_task", {"task_id": 1, "title": None}, "title"),
        ("update_task", {"task_id": 1, "completed": "yes"}, "completed"),
        ("complete_task", {}, "task_id"),
        ("complete_task", {"task_id": 0}, "task_id"),
        ("delete_task", {"task_id": 1, "force": True}, "force"),
        ("list_tasks", {"status": "done"}, "status"),
        ("list_tasks", {"limit": 0}, "limit"),
        ("list_tasks", {"sort": "urgency"}, "sort"),
        ("list_tasks", {"due_after": "tomorrow"}, "due_after"),
        ("list_tasks", {"page": 2}, "page"),
    ],
)
def test_bad_arguments_are_tool_errors_naming_the_argument(
    service: Service, tool: str, arguments: dict[str, Any], field: str
) -> None:
    alice = person()

    async def scenario() -> CallToolResult:
        async with connected(service, alice.token) as client:
            return await client.call_tool(tool, arguments)

    body = failed(asyncio.run(scenario()), "VALIDATION_ERROR")
    assert list(body["field_errors"]) == [field], body
    with rest(service) as http:
        assert http.get(f"/api/{alice.id}/tasks", headers=alice.headers).json() == []


def test_other_failures_carry_the_api_error_codes(service: Service) -> None:
    alice = person()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            failed(await client.call_tool("delete_task", {"task_id": 2**62}), "TASK_NOT_FOUND")
            failed(await client.call_tool("update_task", {"task_id": 2**62}), "TASK_NOT_FOUND")
            cursor = await client.call_tool("list_tasks", {"limit": 1, "cursor": "forged.x"})
            assert list(failed(cursor, "INVALID_CURSOR")["field_errors"]) == ["cursor"]
            for number in range(TASK_LIMIT):
                ok(await client.call_tool("add_task", {"title": f"Task {number}"}))
            full = await client.call_tool("add_task", {"title": "One too many"})
            failed(full, "TASK_LIMIT_REACHED")
            # A tool that does not exist is the protocol's error, not a tool's.
            with pytest.raises(MCPError, match="Unknown tool"):
                await client.call_tool("drop_all_tasks", {})

    asyncio.run(scenario())
    with rest(service) as http:
        listed = http.get(f"/api/{alice.id}/tasks", headers=alice.headers).json()
    assert len(listed) == TASK_LIMIT


# --- the log ------------------------------------------------------------------------------------


def test_each_tool_call_is_one_log_line_without_the_token_or_the_arguments(
    service: Service,
) -> None:
    alice = person()

    async def scenario() -> None:
        async with connected(service, alice.token) as client:
            task = ok(await client.call_tool("add_task", {"title": "Logged"}))
            failed(await client.call_tool("delete_task", {"task_id": 2**62}), "TASK_NOT_FOUND")
            ok(await client.call_tool("delete_task", {"task_id": task["id"]}))
            invalid = {"title": "", "description": "s3cr3t-note"}
            failed(await client.call_tool("add_task", invalid), "VALIDATION_ERROR")

    asyncio.run(scenario())
    log = service.log()
    lines = [line for line in log.splitlines() if line.endswith(f" user_id={alice.id}")]
    calls = [
        match.groups()
        for line in lines
        if (match := re.search(r" todo_api\.mcp .* tool=(\S+) outcome=(\S+) duration_ms=\d", line))
    ]
    assert calls == [
        ("add_task", "ok"),
        ("delete_task", "TASK_NOT_FOUND"),
        ("delete_task", "ok"),
        ("add_task", "VALIDATION_ERROR"),
    ]
    # The HTTP requests themselves are logged as every request is, under their route.
    assert sum("method=POST route=/mcp status=200" in line for line in lines) >= len(calls)
    assert alice.token not in log
    assert "s3cr3t-note" not in log
