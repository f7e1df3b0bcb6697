"""``/openapi.json``: the OpenAPI 3.1 document of every REST route.

Request bodies come from the same msgspec structs the handlers decode, so they cannot drift;
the route list is checked against the app's routes by the tests.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import auth, conversations, mock, prototypes, rooms, server_api, tasks
from .responses import json_response

Operation = tuple[str, str, str, type | None, dict[int, str]]
"""(method, path, summary, request body struct, {status: description})"""

_AUTH = {401: "missing, invalid or revoked token"}
OPERATIONS: list[Operation] = [
    ("get", "/healthz", "The process is alive", None, {200: "alive"}),
    ("get", "/readyz", "The database answers and is migrated", None, {200: "ready", 503: "not ready"}),
    ("post", "/api/auth/signup", "Create an account", auth.Credentials, {201: "created", 409: "email taken"}),
    ("post", "/api/auth/login", "Log in: access and refresh tokens", auth.LoginBody, {200: "tokens", 401: "bad login"}),
    ("post", "/api/auth/refresh", "Trade a refresh token for new tokens", auth.RefreshBody, {200: "tokens", **_AUTH}),
    ("post", "/api/auth/logout", "End this session on REST and sockets", None, {204: "logged out", **_AUTH}),
    ("get", "/api/auth/me", "The caller", None, {200: "the user", **_AUTH}),
    ("get", "/api/conversations", "Chat history, newest first", None, {200: "a page of messages", **_AUTH}),
    (
        "post",
        "/api/conversations",
        "Send a message and wait for the reply",
        conversations.NewMessage,
        {201: "message and reply", 200: "repeated client_id", 404: "unknown replica", 503: "replica failed", **_AUTH},
    ),
    ("get", "/api/replicas", "Replicas the caller can chat with", None, {200: "replicas", **_AUTH}),
    ("get", "/api/tasks", "The caller's tasks", None, {200: "tasks", **_AUTH}),
    ("post", "/api/tasks", "Create a task", tasks.NewTask, {201: "created", **_AUTH}),
    ("patch", "/api/tasks/{task_id}", "Change a task", tasks.TaskPatch, {200: "changed", 404: "no such task", **_AUTH}),
    ("delete", "/api/tasks/{task_id}", "Delete a task", None, {204: "deleted", 404: "no such task", **_AUTH}),
    ("get", "/openapi.json", "This document", None, {200: "OpenAPI 3.1"}),
    (
        "get",
        "/metrics",
        "Prometheus metrics (loopback clients, or the service key)",
        None,
        {200: "Prometheus text format", 401: "not loopback and no service key"},
    ),
]
_PAGE = [
    ("before", {"type": "integer", "minimum": 1}, "page: messages with a smaller seq"),
    ("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
]
_QUERY = {
    ("get", "/api/rooms/{room_id}/messages"): _PAGE,
    ("get", "/api/conversations"): [
        ("replica_id", {"type": "string", "maxLength": 128}, "one stream; omit for all replicas by time"),
        ("before", {"type": "integer", "minimum": 1}, "page: messages with a smaller seq (needs replica_id)"),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
    ],
}
_PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/api/auth/signup", "/api/auth/login", "/api/auth/refresh"}
_SERVICE = {"/metrics", *server_api.PATHS}
"""Routes for operators: the service key (``SERVICE_KEY``, else Supabase's service-role key) as bearer token."""


def all_operations() -> list[Operation]:
    return [*OPERATIONS, *rooms.OPERATIONS, *prototypes.OPERATIONS, *mock.OPERATIONS, *server_api.OPERATIONS]


def build_document() -> dict[str, Any]:
    operations = all_operations()
    bodies = list(dict.fromkeys(op[3] for op in operations if op[3] is not None))
    (schemas, components) = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    body_refs = dict(zip(bodies, schemas, strict=True))
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, statuses in operations:
        op: dict[str, Any] = {"summary": summary, "responses": {}}
        for status, description in statuses.items():
            response: dict[str, Any] = {"description": description}
            if status >= 400:
                response.update(problem)
            elif path == "/metrics":
                response["content"] = {"text/plain": {"schema": {"type": "string"}}}
            elif status != 204:
                response["content"] = {"application/json": {"schema": {"type": "object"}}}
            op["responses"][str(status)] = response
        op["responses"]["422"] = {"description": "invalid input", **problem}
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_refs[body]}}}
        params = [
            {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
            for name, schema, text in _QUERY.get((method, path), [])
        ]
        for name in re.findall(r"{(\w+)}", path):
            params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        if params:
            op["parameters"] = params
        if path in _SERVICE:
            op["security"] = [{"serviceKey": []}]
        elif path not in _PUBLIC:
            op["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[method] = op
    components["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem document",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "instance": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "sensay-hub", "version": "0.1.0", "description": "REST API of sensay-hub; chat is on /ws."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "serviceKey": {"type": "http", "scheme": "bearer", "description": "the service key"},
            },
        },
    }


def routes(app_routes: list[BaseRoute]) -> list[Route]:
    document = build_document()

    async def openapi(request: Request) -> Response:
        return json_response(document)

    return [Route("/openapi.json", openapi, methods=["GET"])]
