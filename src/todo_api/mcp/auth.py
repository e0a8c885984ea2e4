"""Who may reach /mcp: the holder of a token the REST API accepts, verified by the same
`authenticate` (JWKS and shared secret, every rule). Checked before the body is read, as on REST,
and answered in the API's error shape; a 401 points at the OAuth protected-resource metadata
(RFC 9728), which names Better Auth as the authorization server.

The SDK's own `TokenVerifier` and `AuthSettings` are not used: they need the public URL of the
resource when the app is built (this service has no such setting), answer in a shape of their
own, and cannot say "the keys are unavailable, retry" (503) apart from "this token is bad".
"""

import re
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from todo_api.auth.guard import authenticate
from todo_api.core.errors import InvalidToken, MissingToken, PayloadTooLarge, UnsupportedMediaType

MCP_PATH = "/mcp"
# RFC 9728 §3.1: the resource's path after the well-known prefix.
METADATA_PATH = "/.well-known/oauth-protected-resource" + MCP_PATH

# A Host that is a name or an address with an optional port, and nothing that could break out of
# the quoted header value it is written into.
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class BearerRequired:
    """ASGI: the wrapped app runs only for a valid token, with its user in `request.state`
    (where the request log line finds it too, and the tools read it). A refusal is raised as the
    API's error, for the app's handlers to render."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        try:
            request.state.principal = await authenticate(request)
        except (MissingToken, InvalidToken) as refused:
            challenge = (refused.headers or {}).get("WWW-Authenticate", "Bearer")
            refused.headers = {
                "WWW-Authenticate": f'{challenge}, resource_metadata="{metadata_url(request)}"'
            }
            raise
        # The app's body limit counts what is read; a declared length over it is refused here,
        # before the transport, whose own refusal is plain text.
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge
        if request.method == "POST" and not _is_json(request):
            raise UnsupportedMediaType
        await self.app(scope, receive, send)


def _is_json(request: Request) -> bool:
    # What the MCP transport parses: JSON-RPC as application/json, nothing else.
    content_type = request.headers.get("content-type", "")
    return content_type.partition(";")[0].strip().lower() == "application/json"


def public_origin(request: Request) -> str:
    """The scheme and host the client used. Behind a proxy that terminates TLS, the proxy's
    X-Forwarded-Proto and X-Forwarded-Host say it. Read from the request rather than configured,
    like the resource's own URL in RFC 9728; the answers are never cached (`no-store`), so a
    forged header only misleads the client that sent it."""
    scheme = _first(request.headers.get("x-forwarded-proto")) or request.url.scheme
    if scheme not in ("http", "https"):
        scheme = request.url.scheme
    host = _first(request.headers.get("x-forwarded-host")) or request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        server = request.scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip().lower()


def metadata_url(request: Request) -> str:
    return public_origin(request) + METADATA_PATH


def metadata_endpoint(authorization_server: str | None) -> Callable[[Request], Awaitable[Response]]:
    """GET /.well-known/oauth-protected-resource/mcp: where an MCP client learns which
    authorization server (Better Auth, BETTER_AUTH_URL) issues the tokens /mcp takes."""

    async def metadata(request: Request) -> Response:
        document: dict[str, object] = {
            "resource": public_origin(request) + MCP_PATH,
            "bearer_methods_supported": ["header"],
            "resource_name": "Todo API",
        }
        if authorization_server:
            document["authorization_servers"] = [authorization_server]
        return Response(orjson.dumps(document), media_type="application/json")

    return metadata
