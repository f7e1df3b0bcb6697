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
from starlette.types import Message, Receive, Scope, Send

from protocol import NUL_MESSAGE, ErrorCode, has_nul

from ..auth.tokens import Principal
from ..errors import DomainError, InvalidInput, error_code
from ..prototypes.tools import CATALOGUE, input_schema
from ..state import app_state
from .guard import require_principal
from .operation import DocumentedRoute
from .parsing import read_body
from .problems import Problem

logger = logging.getLogger(__name__)

PATH: Final = "/mcp"
MAX_MESSAGE_BYTES: Final = 1024 * 1024
"""Largest JSON-RPC message accepted (a question of the longest message, escaped, fits)."""
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
        request = Request(scope, receive)
        scope[_PRINCIPAL] = await require_principal(request)
        if request.method == "POST":
            # As on every route, NUL (which PostgreSQL text cannot hold) is refused before anything else.
            body = await read_body(request, MAX_MESSAGE_BYTES)
            if body is None:
                raise Problem(ErrorCode.BODY_TOO_LARGE, f"a message may be at most {MAX_MESSAGE_BYTES} bytes")
            if has_nul(body):
                raise InvalidInput(NUL_MESSAGE)
            receive = _replay(body, receive)
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


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives the already read ``body`` first (the SDK reads the request again)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


_JSON_RPC_MESSAGE: Final = {
    "type": "object",
    "description": "A JSON-RPC 2.0 request (with `id`) or notification (without), e.g. `initialize`, "
    "`tools/list`, `tools/call`; the tools describe themselves in `tools/list`.",
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer"]},
        "method": {"type": "string"},
        "params": {"type": "object", "additionalProperties": True},
    },
    "required": ["jsonrpc", "method"],
    "additionalProperties": True,
}
_JSON_RPC_ERROR: Final = {
    "description": "A JSON-RPC 2.0 error answer.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "jsonrpc": {"const": "2.0"},
                    "id": {"type": ["string", "integer", "null"]},
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                        "required": ["code", "message"],
                        "additionalProperties": True,
                    },
                },
                "required": ["jsonrpc", "error"],
            }
        }
    },
}
_EVENT_STREAM: Final = {"schema": {"type": "string", "description": "Server-sent events."}}
_UNAUTHORIZED: Final = {
    "description": "No bearer token, or one that does not verify (`unauthorized`): the SDK never sees the request.",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}},
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}},
    }


_SECURITY: Final[list[dict[str, list[str]]]] = [{"bearer": []}]
PATH_ITEM: Final = {
    "summary": "Model Context Protocol server (streamable HTTP, stateless)",
    "description": "The MCP endpoint of the hub, built on the official `mcp` SDK. Not REST: JSON-RPC 2.0 messages "
    "in, answers as server-sent events. Authenticate with the user's bearer token, verified as REST verifies it. "
    "Stateless: any process answers any request, and no `Mcp-Session-Id` is issued.",
    "post": {
        "operationId": "mcpMessage",
        "tags": ["mcp"],
        "summary": "Send a JSON-RPC message to the MCP server.",
        "description": "The `Accept` header must allow both `application/json` and `text/event-stream`.",
        "security": _SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _JSON_RPC_MESSAGE}}},
        "responses": {
            "200": {
                "description": "A request's answer, as a `message` event whose data is the JSON-RPC response.",
                "content": {"text/event-stream": _EVENT_STREAM},
            },
            "202": {"description": "A notification (or response) was accepted; no body."},
            "400": {**_JSON_RPC_ERROR, "description": "Not JSON (`-32700`) or not a JSON-RPC message (`-32600`)."},
            "401": _UNAUTHORIZED,
            "406": {**_JSON_RPC_ERROR, "description": "`Accept` does not allow the answer's media types."},
            "413": _problem("The message is over 1 MiB (`body_too_large`)."),
            "422": _problem("A string holds NUL (`validation_error`), refused before the SDK reads it."),
        },
    },
    "get": {
        "operationId": "mcpListen",
        "tags": ["mcp"],
        "summary": "Open the stream of server-initiated messages.",
        "description": "Stays open until the client hangs up; this stateless server initiates nothing on it.",
        "security": _SECURITY,
        "responses": {
            "200": {"description": "An event stream.", "content": {"text/event-stream": _EVENT_STREAM}},
            "401": _UNAUTHORIZED,
            "406": {**_JSON_RPC_ERROR, "description": "`Accept` does not allow `text/event-stream`."},
        },
    },
    "delete": {
        "operationId": "mcpEndSession",
        "tags": ["mcp"],
        "summary": "End an MCP session: refused, as the server keeps none.",
        "security": _SECURITY,
        "responses": {
            "401": _UNAUTHORIZED,
            "405": {**_JSON_RPC_ERROR, "description": "Session termination is not supported (stateless)."},
        },
    },
}
"""``/mcp`` in the OpenAPI document: what the route answers, so that API readers find it (the tools themselves are
described by the protocol, in ``tools/list``)."""


def routes(endpoint: McpEndpoint) -> list[Route]:
    return [DocumentedRoute(PATH, endpoint, methods=["GET", "POST", "DELETE"], tag="mcp", path_item=PATH_ITEM)]
