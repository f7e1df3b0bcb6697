"""``/mcp``: a Model Context Protocol server (streamable HTTP, the official ``mcp`` SDK) over the user's hub.

Any MCP client (Claude Desktop, an agent, the SDK's own client) connects with the user's bearer token, verified
exactly as REST verifies it: no token, no tools. The tools are the catalogue of ``server.prototypes.tools``:
ask one of the user's replicas, list replicas, read and change tasks, search the user's conversations and tasks,
and the mock tools. Resources and prompts are ``server.prototypes.mcp_resources``; task changes from the change
feed reach the user's ``subscriptions/listen`` streams on this process. The transport is stateless (any process of
a deployment answers any request), so it needs no session affinity.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar
from uuid import UUID

import msgspec
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    TextContent,
    TextResourceContents,
    Tool,
)
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from protocol import NUL_MESSAGE, ErrorCode, has_nul

from ..auth.tokens import Principal
from ..errors import DomainError, InvalidInput, NotFound, error_code
from ..prototypes.mcp_resources import JSON, TASKS_URI, TEMPLATES, Change, task_uri
from ..prototypes.tools import CATALOGUE, input_schema
from ..state import app_state
from .guard import require_principal
from .operation import DocumentedRoute
from .parsing import read_body
from .problems import Problem

logger = logging.getLogger(__name__)
T = TypeVar("T")

PATH: Final = "/mcp"
MAX_MESSAGE_BYTES: Final = 1024 * 1024
"""Largest JSON-RPC message accepted (a question of the longest message, escaped, fits)."""
MAX_LISTENS_PER_USER: Final = 16
"""Open ``subscriptions/listen`` streams one user may hold on one process."""
_PRINCIPAL: Final = "sensay_hub.principal"
"""Where the endpoint leaves the verified caller in the request's scope for the tool handler."""


class McpEndpoint:
    """The ``/mcp`` route: verify the bearer token, then hand the request to the SDK's transport."""

    def __init__(self) -> None:
        self.server: Server[Any] = Server(
            "sensay-hub",
            instructions="Your Sensay hub: talk to your replicas, keep your task list, search what you said; your "
            "tasks, conversations and replicas are resources, and each replica has a prompt.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_subscriptions_listen=self._listen,
        )
        self._buses: dict[UUID, tuple[InMemorySubscriptionBus, ListenHandler]] = {}
        """Each listening user's own bus: a user's listen streams hear only that user's changes."""
        self._listening: Counter[UUID] = Counter()
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

    async def _list_resources(self, ctx: Any, params: PaginatedRequestParams | None) -> ListResourcesResult:
        user_id, service = _caller(ctx)
        listed = await service.list_mcp_resources(user_id)
        resources = [
            Resource(uri=r.uri, name=r.name, title=r.title, description=r.description, mime_type=JSON) for r in listed
        ]
        return ListResourcesResult(resources=resources)

    async def _list_resource_templates(
        self, ctx: Any, params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        templates = [
            ResourceTemplate(uri_template=t.uri_template, name=t.name, description=t.description, mime_type=JSON)
            for t in TEMPLATES
        ]
        return ListResourceTemplatesResult(resource_templates=templates)

    async def _read_resource(self, ctx: Any, params: ReadResourceRequestParams) -> ReadResourceResult:
        user_id, service = _caller(ctx)
        uri = str(params.uri)
        content = await _answer(service.read_mcp_resource(user_id, uri), "resources/read", user_id)
        return ReadResourceResult(contents=[TextResourceContents(uri=uri, mime_type=JSON, text=_json(content))])

    async def _list_prompts(self, ctx: Any, params: PaginatedRequestParams | None) -> ListPromptsResult:
        user_id, service = _caller(ctx)
        question = PromptArgument(name="question", description="What to ask the replica (optional)", required=False)
        prompts = [
            Prompt(name=p.name, title=p.title, description=p.description, arguments=[question])
            for p in await service.list_mcp_prompts(user_id)
        ]
        return ListPromptsResult(prompts=prompts)

    async def _get_prompt(self, ctx: Any, params: GetPromptRequestParams) -> GetPromptResult:
        user_id, service = _caller(ctx)
        found = service.mcp_prompt(user_id, params.name, dict(params.arguments or {}))
        description, text = await _answer(found, "prompts/get", user_id)
        message = PromptMessage(role="user", content=TextContent(type="text", text=text))
        return GetPromptResult(description=description, messages=[message])

    async def _listen(self, ctx: Any, params: SubscriptionsListenRequestParams) -> SubscriptionsListenResult:
        """A ``subscriptions/listen`` stream (protocol 2026-07-28) of the caller's changes, on this process."""
        user_id, _ = _caller(ctx)
        entry = self._buses.get(user_id)
        if entry is None:
            bus = InMemorySubscriptionBus()
            entry = self._buses[user_id] = (bus, ListenHandler(bus, max_subscriptions=MAX_LISTENS_PER_USER))
        self._listening[user_id] += 1
        try:
            return await entry[1](ctx, params)
        finally:
            self._listening[user_id] -= 1
            if self._listening[user_id] <= 0:
                del self._listening[user_id]
                self._buses.pop(user_id, None)

    async def on_change(self, change: Change) -> None:
        """A row change from the change feed (every process runs its own): a task's change reaches its owner's
        listen streams as an update of the task and of the task list, and an added or deleted task as a changed
        resource list."""
        entry = self._buses.get(change.user_id)
        if entry is None or change.table != "tasks":
            return
        row = change.record or change.old_record or {}
        bus = entry[0]
        if "id" in row:
            await bus.publish(ResourceUpdated(uri=task_uri(row["id"])))
        await bus.publish(ResourceUpdated(uri=TASKS_URI))
        if change.op in ("INSERT", "DELETE"):
            await bus.publish(ResourcesListChanged())

    async def on_gap(self, reason: str) -> None:
        """Changes may have been missed: every listener is told its resource list changed (refetch)."""
        for bus, _ in list(self._buses.values()):
            await bus.publish(ResourcesListChanged())


def _caller(ctx: Any) -> tuple[UUID, Any]:
    """The verified user of the request, and the prototypes service."""
    request: Request = ctx.request
    principal: Principal = request.scope[_PRINCIPAL]
    return principal.user_id, app_state(request)["prototypes"]


async def _answer(pending: Awaitable[T], method: str, user_id: UUID) -> T:
    """``pending``'s result; a domain error becomes a JSON-RPC error (not found: invalid params, as MCP says)."""
    try:
        return await pending
    except NotFound as exc:
        raise MCPError(INVALID_PARAMS, exc.detail) from None
    except DomainError as exc:
        logger.error("MCP %s failed for %s", method, user_id, exc_info=exc)
        raise MCPError(INTERNAL_ERROR, exc.detail) from None


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
    "description": "A JSON-RPC 2.0 request (with `id`) or notification (without), e.g. `initialize` (or "
    "`server/discover` on the 2026-07-28 wire), `tools/list`, `tools/call`, `resources/list`, "
    "`resources/templates/list`, `resources/read`, `prompts/list`, `prompts/get`, `subscriptions/listen`; the tools "
    "describe themselves in `tools/list`.",
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
    "Stateless: any process answers any request, and no `Mcp-Session-Id` is issued. Tools, resources (the user's "
    "tasks, conversations and replicas as `sensay-hub://` URIs) and prompts (one per replica); on the 2026-07-28 "
    "wire a `subscriptions/listen` request's answer is a stream of the user's task changes.",
    "post": {
        "operationId": "mcpMessage",
        "tags": ["mcp"],
        "summary": "Send a JSON-RPC message to the MCP server.",
        "description": "The `Accept` header must allow both `application/json` and `text/event-stream`.",
        "security": _SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _JSON_RPC_MESSAGE}}},
        "responses": {
            "200": {
                "description": "A request's answer, as a `message` event whose data is the JSON-RPC response (for "
                "`subscriptions/listen`: the acknowledgement, then change notifications until the client hangs up).",
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
