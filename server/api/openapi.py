"""``/openapi.json``: the OpenAPI 3.1 document, derived from the routes' declarations (``operation.py``).

Nothing here lists routes: every :class:`~.operation.ApiRoute` of the app contributes its operation, and a plain
HTTP route that is not declared (and not excluded with ``include_in_schema=False``) is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import version
from typing import Any, Final
from weakref import WeakKeyDictionary

import msgspec
import msgspec.inspect
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.types import ASGIApp

from protocol import ErrorCode
from protocol.export import open_free_form_objects

from .operation import JSON, Answer, ApiRoute, DocumentedRoute, Operation, operation, routes_of
from .problems import PROBLEM_MEDIA_TYPE, ProblemDocument

TAGS: Final = {
    "auth": "Sign-up, login, tokens and sessions of the hub's own API (`/api/auth`).",
    "gotrue": "Supabase Auth's (GoTrue's) API, served with local auth so that supabase-js runs unchanged.",
    "chat": "Replicas and the caller's chat with them (the socket does the same live).",
    "rooms": "Chatrooms of users and replicas (live on the socket).",
    "tasks": "The caller's task list (changes reach the socket as `change` frames).",
    "prototypes": "The seven prototypes of the showcase and their actions.",
    "mock": "Simulated outside services: telephony, a $SNSY chain, MCP tools.",
    "mcp": "The hub as a Model Context Protocol server (JSON-RPC 2.0 over MCP's streamable HTTP transport).",
    "server": "The server API for the people who run sensay-hub (the service key; every process answers).",
    "meta": "Health, readiness, metrics and this document.",
}
"""Every tag an operation may use, with its description (a new tag is added here)."""

SERVERS: Final = [
    {
        "url": "{origin}",
        "description": "A sensay-hub instance; the WebSocket protocol is at `/ws` (see `asyncapi.json`).",
        "variables": {"origin": {"default": "http://localhost:8000", "description": "Scheme, host and port."}},
    }
]


class OpenApiDocument(msgspec.Struct):
    """An OpenAPI 3.1 document (this one)."""

    openapi: str
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    paths: dict[str, dict[str, Any]]
    components: dict[str, Any]


def declared_operations(routes: Iterable[BaseRoute]) -> list[Operation]:
    """The operations of ``routes``, in order; a plain HTTP route without a declaration is an error."""
    found: list[Operation] = []
    for route in routes:
        if isinstance(route, ApiRoute):
            found.append(route.operation)
        elif isinstance(route, Route) and route.include_in_schema:
            methods = sorted(route.methods or ())
            raise TypeError(f"{route.path} {methods}: declare it with @operation (server/api/operation.py)")
        elif isinstance(route, Mount) and route.routes:
            raise TypeError(f"{route.path}: mount no API routes; give ApiRoutes their full path")
    return found


def build_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    routes = list(routes)
    operations = declared_operations(routes)
    bodies = [op.body for op in operations] + [a.body for op in operations for a in op.answers.values()]
    types = [ProblemDocument, *dict.fromkeys(t for body in bodies for t in _alternatives(body))]
    (schemas, components) = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    refs = dict(zip(types, schemas, strict=True))
    _require_encoded_fields(components, outputs=types, inputs=[op.body for op in operations])
    components["ErrorCode"]["x-enum-descriptions"] = {code.value: code.description for code in ErrorCode}
    for body_type in types:  # what msgspec cannot say of a struct (e.g. a PATCH needs one field at least)
        extra = getattr(body_type, "json_schema_extra", None)
        if isinstance(extra, dict):
            components[body_type.__name__].update(extra)
    paths: dict[str, dict[str, Any]] = {}
    used_tags: set[str] = set()
    for op in operations:
        assert op.tag in TAGS, f"{op.operation_id}: tag {op.tag!r} is not in openapi.TAGS"
        used_tags.add(op.tag)
        _, path_format, _ = compile_path(op.path)
        method = op.method.lower()
        assert method not in paths.get(path_format, {}), f"{op.method} {path_format} is declared twice"
        paths.setdefault(path_format, {})[method] = _operation_object(op, refs)
    for route in routes:
        if isinstance(route, DocumentedRoute):
            assert route.tag in TAGS, f"{route.path}: tag {route.tag!r} is not in openapi.TAGS"
            assert route.path not in paths, f"{route.path} is declared twice"
            used_tags.add(route.tag)
            paths[route.path] = route.path_item
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "sensay-hub",
            "version": version("sensay-hub"),
            "description": (
                "REST API of sensay-hub. Chat, rooms and live changes are also on the WebSocket at `/ws` "
                "(`asyncapi.json`); supabase-js's Realtime (Phoenix channels with `postgres_changes`, `broadcast` "
                "and `presence`) is on the WebSocket at `/realtime/v1/websocket` unless `SUPABASE_URL` is set. "
                "No string may contain NUL (`\\u0000`, which PostgreSQL cannot store): a path, query or body holding "
                "one is 422 `validation_error` (GoTrue's `validation_failed` on `/auth/v1`). "
                "Errors are RFC 9457 problem documents whose `code` is the socket's error code for the same cause; "
                "`/auth/v1` answers in GoTrue's shapes instead."
            ),
        },
        "servers": SERVERS,
        "tags": [{"name": name, "description": text} for name, text in TAGS.items() if name in used_tags],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apikey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "apikey",
                    "description": "The anon key (`/auth/v1` only; printed by `sensay-hub serve`).",
                },
                "serviceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The service key (`SERVICE_KEY`, else Supabase's service-role key), for operators.",
                },
            },
        },
    }
    # As served: tuples (schema defaults) become lists.
    served: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(document))
    open_free_form_objects(served)
    return served


def _require_encoded_fields(components: dict[str, Any], *, outputs: list[Any], inputs: list[Any]) -> None:
    """Mark every field of an answer-only struct required: msgspec encodes them all (unless ``omit_defaults``).

    Without this a field with a default (``token_type = "bearer"``) would read as optional to a client; structs
    that are (part of) a request body keep their defaults optional.
    """
    given = _structs(t for body in inputs for t in _alternatives(body))
    for cls in _structs(outputs) - given:
        schema = components.get(cls.__name__)
        if schema is not None and schema.get("title") == cls.__name__ and not cls.__struct_config__.omit_defaults:
            schema["required"] = list(schema.get("properties", {}))


def _structs(types: Iterable[Any]) -> set[type[msgspec.Struct]]:
    """Every struct class the types are or contain."""
    found: set[type[msgspec.Struct]] = set()
    pending = list(msgspec.inspect.multi_type_info(list(types)))
    while pending:
        info = pending.pop()
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls not in found:
                found.add(info.cls)
                pending.extend(field.type for field in info.fields)
            continue
        for attr in ("type", "item_type", "key_type", "value_type", "types", "item_types"):
            inner = getattr(info, attr, None)
            if isinstance(inner, msgspec.inspect.Type):
                pending.append(inner)
            elif isinstance(inner, tuple):
                pending.extend(t for t in inner if isinstance(t, msgspec.inspect.Type))
    return found


def _operation_object(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"operationId": op.operation_id, "tags": [op.tag], "summary": op.summary}
    if op.description:
        result["description"] = op.description
    parameters = _path_parameters(op) + _query_parameters(op)
    if parameters:
        result["parameters"] = parameters
    if op.body is not None:
        result["requestBody"] = {"required": True, "content": {JSON: {"schema": _schema(op.body, refs)}}}
    result["responses"] = {
        str(status): _response_object(op, status, answer, refs) for status, answer in op.answers.items()
    }
    if op.security:
        result["security"] = [{name: [] for name in op.security}, *([{}] if op.security_optional else [])]
    return result


def _alternatives(body: Any) -> tuple[Any, ...]:
    return () if body is None else body if isinstance(body, tuple) else (body,)


def _schema(body: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    if isinstance(body, tuple):
        return {"anyOf": [refs[t] for t in body]}
    return dict(refs[body])


def _response_object(op: Operation, status: int, answer: Answer, refs: dict[Any, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": answer.description or _describe(answer.body)}
    if answer.headers:
        response["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
    if answer.media_type == PROBLEM_MEDIA_TYPE and answer.body is None:
        codes = sorted(code.value for code in op.errors if code.http_status == status)
        narrowed = {"properties": {"status": {"const": status}, "code": {"enum": codes}}}
        response["content"] = {answer.media_type: {"schema": {"allOf": [refs[ProblemDocument], narrowed]}}}
    elif answer.body is not None:
        response["content"] = {answer.media_type: {"schema": _schema(answer.body, refs)}}
    return response


def _describe(body: Any) -> str:
    if body is None:
        return "No content."
    body = _alternatives(body)[0]
    doc = getattr(body, "__doc__", None) if isinstance(body, type) else None
    return (doc or "").strip().split("\n", 1)[0] or getattr(body, "__name__", "the answer")


def _path_parameters(op: Operation) -> list[dict[str, Any]]:
    _, _, convertors = compile_path(op.path)
    parameters = []
    for name, convertor in convertors.items():
        schema = msgspec.json.schema(op.path_params.get(name, str))
        parameter: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": schema}
        if type(convertor).__name__ == "PathConvertor":
            parameter["description"] = "The rest of the path; may contain `/`."
        parameters.append(parameter)
    return parameters


def _query_parameters(op: Operation) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    schema = msgspec.json.schema(op.query)
    struct = schema["$defs"][op.query.__name__]
    required = set(struct.get("required", []))
    parameters = []
    for name, prop in struct["properties"].items():
        prop = _not_null(prop)
        description = prop.pop("description", None)
        assert "$ref" not in str(prop), f"{op.operation_id}: query parameter {name} must be a scalar"
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the ``null`` branch of an optional's schema."""
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1 and len(schema["anyOf"]) == 2:
        rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
        return {**branches[0], **rest}
    return dict(schema)


_rendered: WeakKeyDictionary[ASGIApp, bytes] = WeakKeyDictionary()


@operation(
    "GET",
    "/openapi.json",
    "getOpenApiDocument",
    tag="meta",
    answers={200: OpenApiDocument},
    public=True,
    database=False,
)
async def openapi_json(request: Request) -> Response:
    """This document."""
    app = request.app
    if app not in _rendered:
        _rendered[app] = msgspec.json.encode(build_document(app.routes))
    return Response(_rendered[app], media_type=JSON)


routes = routes_of(openapi_json)
