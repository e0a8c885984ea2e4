"""The MCP server at /mcp, in the app's own process: the SDK's Streamable HTTP transport,
stateless and answering in JSON, behind the API's bearer check (`auth`).

Stateless, so any worker serves any request (no session to route back to its process), and
every request is authenticated on its own. The SDK serves both protocol eras on the one
endpoint: clients of the 2026-07-28 revision (no handshake), and older ones that open with
`initialize`.

Each tool call is one line in the log, like each request's: tool, outcome (`ok` or the error
code), duration and user; never the token or the arguments. A failure is a tool error
(`isError`) whose structured content is the API's error body, rendered by the app's own error
handlers, so it carries the same `error_code` as the REST answer would.
"""

import inspect
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import orjson
from fastapi import FastAPI
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from todo_api.auth.tokens import Principal
from todo_api.core.errors import internal_error_response
from todo_api.core.middleware import logfmt
from todo_api.core.settings import Settings
from todo_api.mcp.auth import MCP_PATH, METADATA_PATH, BearerRequired, metadata_endpoint
from todo_api.mcp.tools import TOOLS, Caller

logger = logging.getLogger("todo_api.mcp")
# The transport logs every stateless request at INFO ("Terminating session: None"); the request
# log line already says all there is.
logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)

INSTRUCTIONS = (
    "Manage the signed-in user's todo list: add, list, complete, update and delete tasks. "
    "Every tool acts as the user the access token belongs to. Task ids come from add_task and "
    "list_tasks. A failed call answers the API's error_code (TASK_NOT_FOUND, VALIDATION_ERROR "
    "with field_errors, TASK_LIMIT_REACHED, ...) and a message."
)
_TOOLS = {tool.name: tool for tool in TOOLS}
_LISTED = ListToolsResult(
    tools=[
        Tool(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.input_schema,
            output_schema=tool.output_schema,
            annotations=tool.annotations,
        )
        for tool in TOOLS
    ]
)
_INPUT_SCHEMAS = {tool.name: tool.input_schema for tool in _LISTED.tools}


async def _list_tools(
    _: ServerRequestContext[Any, Any], __: PaginatedRequestParams | None
) -> ListToolsResult:
    return _LISTED


async def _call_tool(
    ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
) -> CallToolResult:
    tool = _TOOLS.get(params.name)
    if tool is None:
        # Not a failure of a tool but a request for one that does not exist: a protocol error.
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
    request = ctx.request
    principal = getattr(request.state, "principal", None) if request is not None else None
    if not isinstance(request, Request) or not isinstance(principal, Principal):
        # BearerRequired sets both for every request that reaches the transport.
        raise MCPError(INTERNAL_ERROR, "Internal server error")
    caller = Caller(principal.user_id, request.app.state.database, request.app.state.settings)
    started = time.perf_counter()
    try:
        answer = await tool.call(caller, params.arguments or {})
    except Exception as exc:
        error = await _error_body(request, exc)
        outcome = str(error["error_code"])
        result = CallToolResult(
            content=[TextContent(text=_error_text(error))], structured_content=error, is_error=True
        )
    else:
        outcome = "ok"
        result = CallToolResult(
            # The JSON as text too: hosts that show a model only the text content lose nothing.
            content=[
                TextContent(text=answer.summary),
                TextContent(text=orjson.dumps(answer.data).decode()),
            ],
            structured_content=answer.data,
        )
    logger.info(
        "tool=%s outcome=%s duration_ms=%.1f user_id=%s",
        tool.name,
        outcome,
        (time.perf_counter() - started) * 1000,
        logfmt(principal.user_id),
    )
    return result


async def _error_body(request: Request, exc: Exception) -> dict[str, Any]:
    """The API's error body for `exc`, from the handler the app renders it with on REST."""
    handler = next(
        (
            request.app.exception_handlers[kind]
            for kind in type(exc).__mro__
            if kind in request.app.exception_handlers
        ),
        None,
    )
    if handler is None:
        logger.exception("unhandled error in a tool")
        response = internal_error_response()
    else:
        response = handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
    body: dict[str, Any] = orjson.loads(response.body)
    return body


def _error_text(error: dict[str, Any]) -> str:
    text = f"{error['error_code']}: {error['detail']}"
    for name, messages in (error.get("field_errors") or {}).items():
        text += "; " + "; ".join(f"{name}: {message}" for message in messages)
    return text


def _server() -> Server[Any]:
    return Server(
        "todo-api",
        version=version("todo-api"),
        title="Todo API",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=_INPUT_SCHEMAS.get,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
    )


class McpEndpoint:
    """/mcp and its protected-resource metadata, for one app: `mount` adds the routes, and the
    app's lifespan runs `running()`, which the transport needs (its task group)."""

    def __init__(self, settings: Settings) -> None:
        self._server = _server()
        self._max_body_bytes = settings.max_body_bytes
        self._authorization_server = settings.better_auth_url
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # A session manager runs once only: a new one for each start of the app (tests start
        # one app more than once).
        manager = StreamableHTTPSessionManager(
            app=self._server,
            json_response=True,
            stateless=True,
            # The SDK's DNS-rebinding guard is for servers without authentication on
            # localhost; here every request needs a bearer token, and browsers are held to
            # ALLOWED_ORIGINS by the app's CORS.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=self._max_body_bytes,
        )
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    def mount(self, app: FastAPI) -> None:
        # Plain Starlette routes: not part of the REST API's OpenAPI document.
        app.router.routes.append(
            _Route(
                MCP_PATH,
                endpoint=BearerRequired(self._transport, max_body_bytes=self._max_body_bytes),
            )
        )
        app.router.routes.append(
            _Route(METADATA_PATH, endpoint=metadata_endpoint(self._authorization_server))
        )

    async def _transport(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            # Stateless: no session to end (DELETE) and nothing the server could ever send on a
            # standing stream (GET), which would only hold a connection open. The transport
            # specification allows a 405 for both.
            raise HTTPException(405, headers={"Allow": "POST"})
        if self._manager is None:
            raise RuntimeError("the MCP endpoint is not running: the app's lifespan starts it")
        await self._manager.handle_request(scope, receive, send)


class _Route(Route):
    """A plain route that, like FastAPI's own, says in the scope which route it is: the request
    log line and the metrics name it from there (FastAPI records only its APIRoutes)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)
