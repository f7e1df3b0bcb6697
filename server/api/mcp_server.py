"""``/mcp``: a Model Context Protocol server (streamable HTTP, the official ``mcp`` SDK) over the user's hub.

Any MCP client (Claude Desktop, an agent, the SDK's own client) connects with the user's bearer token, verified
exactly as REST verifies it: no token, no tools. The tools are the catalogue of ``server.prototypes.tools``:
ask one of the user's replicas, list replicas, read and change tasks, and the mock tools. The transport is
stateless (any process of a deployment answers any request), so it needs no session affinity.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import msgspec
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, TextContent, Tool
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..auth.tokens import Principal
from ..errors import DomainError, error_code
from ..prototypes.tools import CATALOGUE, input_schema
from ..state import app_state
from .guard import require_principal

logger = logging.getLogger(__name__)

PATH: Final = "/mcp"
_PRINCIPAL: Final = "sensay_hub.principal"
"""Where the endpoint leaves the verified caller in the request's scope for the tool handler."""


class McpEndpoint:
    """The ``/mcp`` route: verify the bearer token, then hand the request to the SDK's transport."""

    def __init__(self) -> None:
        self.server: Server[Any] = Server(
            "sensay-hub",
            instructions="Tools of your Sensay hub: talk to your replicas and keep your task list.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        # DNS-rebinding protection checks Host against a list we cannot know for every deployment; a request
        # without the user's bearer token gets nothing here anyway.
        self.sessions = StreamableHTTPSessionManager(
            self.server,
            stateless=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The SDK's task group; entered by the app's lifespan."""
        async with self.sessions.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A missing or bad token raises before anything reaches the SDK: the app answers a 401 problem document.
        scope[_PRINCIPAL] = await require_principal(Request(scope, receive))
        await self.sessions.handle_request(scope, receive, send)

    async def _list_tools(self, ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
        tools = [
            Tool(name=name, description=spec.summary, input_schema=input_schema(spec))
            for name, spec in CATALOGUE.items()
        ]
        return ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        request: Request = ctx.request
        principal: Principal = request.scope[_PRINCIPAL]
        service = app_state(request)["prototypes"]
        try:
            output = await service.call_tool(principal.user_id, params.name, dict(params.arguments or {}))
        except DomainError as exc:
            code = error_code(exc)
            if code.http_status is None or code.http_status >= 500:
                logger.error("MCP tool %s failed for %s", params.name, principal.user_id, exc_info=exc)
            body = {"code": code.value, "message": exc.detail, "retryable": code.retryable}
            return CallToolResult(content=[TextContent(type="text", text=_json(body))], is_error=True)
        return CallToolResult(content=[TextContent(type="text", text=_json(output))], structured_content=output)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def routes(endpoint: McpEndpoint) -> list[Route]:
    # Not REST: the Model Context Protocol describes itself (tools/list); the README documents the route.
    return [Route(PATH, endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)]
