"""The Model Context Protocol server at /mcp, for AI chatbots that manage a user's tasks: the
REST API's rules, store and tokens behind the five tools chatbot builders expect."""

from todo_api.mcp.server import McpEndpoint

__all__ = ["McpEndpoint"]
