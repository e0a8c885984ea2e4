"""A chatbot's MCP client with tokens from a real Better Auth (npm better-auth, its JWT plugin's
`/api/auth/token`), against our real service configured as in production: BETTER_AUTH_URL only,
its keys fetched over HTTP, no shared secret."""

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import AuthServer
from tests.serving import Service
from tests.test_mcp import METADATA_PATH, connected, failed, ok
from todo_api.core.settings import Settings

pytestmark = pytest.mark.e2e


def test_an_mcp_client_manages_tasks_with_a_better_auth_token(
    settings: Settings, processes: list[AuthServer | Service], tmp_path: Path
) -> None:
    auth = AuthServer(tmp_path)
    processes.append(auth)
    auth.start()
    service = Service(
        tmp_path, {"DATABASE_URL": str(settings.database_url), "BETTER_AUTH_URL": auth.url}
    )
    processes.append(service)
    service.start()
    alice, bob = auth.sign_up("Alice"), auth.sign_up("Bob")

    with httpx.Client(base_url=service.url, timeout=30) as http:
        # Where a client that starts without a token is sent: Better Auth.
        refused = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401
        assert (
            f'resource_metadata="{service.url}{METADATA_PATH}"'
            in (refused.headers["www-authenticate"])
        )
        metadata = http.get(METADATA_PATH).json()
        assert metadata["authorization_servers"] == [auth.url]

    async def as_alice() -> tuple[int, int]:
        async with connected(service, alice.token) as client:
            listed = await client.list_tools()
            assert {tool.name for tool in listed.tools} == {
                "add_task",
                "list_tasks",
                "complete_task",
                "delete_task",
                "update_task",
            }
            kept = ok(
                await client.call_tool("add_task", {"title": "Buy milk 🥛", "tags": ["home"]})
            )
            assert kept["user_id"] == alice.id
            dropped = ok(await client.call_tool("add_task", {"title": "Drop me"}))
            ok(await client.call_tool("complete_task", {"task_id": kept["id"]}))
            ok(await client.call_tool("update_task", {"task_id": kept["id"], "priority": "high"}))
            ok(await client.call_tool("delete_task", {"task_id": dropped["id"]}))
            return kept["id"], dropped["id"]

    kept_id, dropped_id = asyncio.run(as_alice())
    with httpx.Client(base_url=service.url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {alice.token}"}
        shown = http.get(f"/api/{alice.id}/tasks", headers=headers).json()
    assert [(task["id"], task["completed"], task["priority"]) for task in shown] == [
        (kept_id, True, "high")
    ]
    assert dropped_id != kept_id

    async def as_bob() -> None:
        # The same kind of token, from get-session's set-auth-jwt header.
        async with connected(service, bob.jwt_from_get_session(), mode="legacy") as client:
            assert ok(await client.call_tool("list_tasks", {}))["tasks"] == []
            failed(await client.call_tool("complete_task", {"task_id": kept_id}), "TASK_NOT_FOUND")
            failed(await client.call_tool("delete_task", {"task_id": kept_id}), "TASK_NOT_FOUND")
            failed(await client.call_tool("list_tasks", {"user_id": alice.id}), "FORBIDDEN")

    asyncio.run(as_bob())
    assert alice.token not in service.log()
