"""Generate the checked-in JSON Schema and AsyncAPI documents from the frame definitions."""

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

from .client_frames import CLIENT_FRAME_TYPES, ClientFrame
from .codes import CloseCode, ErrorCode
from .constants import (
    FLOOD_FORGIVEN_PER_SECOND,
    FLOOD_LIMIT,
    FRAME_BURST,
    FRAME_RATE,
    MAX_CONTENT_LENGTH,
    MAX_ID_LENGTH,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    TOKEN_QUERY_PARAM,
    TOKEN_SUBPROTOCOL_PREFIX,
    WS_PATH,
)
from .server_frames import SERVER_FRAME_TYPES, ServerFrame

SCHEMA_DIR: Final = Path(__file__).parent / "schema"
JSON_SCHEMA_FILE: Final = "frames.schema.json"
ASYNCAPI_FILE: Final = "asyncapi.json"

_CHANNEL: Final = "ws"


def open_free_form_objects(schema: Any) -> Any:
    """Say outright that a free-form object (``dict[str, Any]``, msgspec's bare ``{"type": "object"}``) may hold
    any field: ``additionalProperties: true``. Generators read a bare object as an empty one (openapi-typescript
    gives ``Record<string, never>``); structs keep their closed shape. Changes ``schema`` in place; returns it."""
    if isinstance(schema, list):
        for item in schema:
            open_free_form_objects(item)
    elif isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" not in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = True
        for value in schema.values():
            open_free_form_objects(value)
    return schema


def _components(ref_template: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    (client, server), defs = msgspec.json.schema_components((ClientFrame, ServerFrame), ref_template=ref_template)
    open_free_form_objects(defs)
    defs["ErrorCode"]["x-enum-descriptions"] = {code.value: code.description for code in ErrorCode}
    return client, server, defs


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) with both frame unions, ``ClientFrame`` and ``ServerFrame``, under ``$defs``."""
    client, server, defs = _components("#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sensay-hub WebSocket frames",
        "description": (
            f"Frames of protocol version {PROTOCOL_VERSION} (subprotocol `{SUBPROTOCOL}`). "
            "`ClientFrame`: client to server; `ServerFrame`: server to client."
        ),
        "anyOf": [{"$ref": "#/$defs/ClientFrame"}, {"$ref": "#/$defs/ServerFrame"}],
        "$defs": {**defs, "ClientFrame": client, "ServerFrame": server},
    }


def _summary(cls: type) -> str:
    return (inspect.getdoc(cls) or "").split("\n", 1)[0]


def _messages(frame_types: Mapping[str, type[msgspec.Struct]], direction: str) -> dict[str, Any]:
    return {
        cls.__name__: {
            "name": tag,
            "title": f"{tag} ({direction})",
            "summary": _summary(cls),
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
        }
        for tag, cls in frame_types.items()
    }


def _description() -> str:
    close_rows = "\n".join(
        f"| {code.value} | `{code.name}` | {'yes' if code.reconnect else 'no'} | {code.description} |"
        for code in CloseCode
    )
    error_rows = "\n".join(
        f"| `{code.value}` | {code.http_status or '-'} | {'yes' if code.socket else 'no'} | "
        f"{'yes' if code.retryable else 'no'} | {code.description} |"
        for code in ErrorCode
    )
    return f"""\
Real-time chat with Sensay AI replicas over one WebSocket at `{WS_PATH}`. Every frame is a JSON object in a
text frame, tagged by its `type` field. Binary frames are rejected (`binary_not_supported`).

## Connecting and authenticating

Offer the subprotocol `{SUBPROTOCOL}`. Authenticate with a JWT in one of three ways (browsers cannot set
headers): a second subprotocol value `{TOKEN_SUBPROTOCOL_PREFIX}<jwt>` (the server only ever selects
`{SUBPROTOCOL}`), the `{TOKEN_QUERY_PARAM}` query parameter, or an `auth` frame sent first. After successful
authentication the server sends `hello`. A bad token closes the socket with 4001.

To keep a socket past its token's expiry, send a new `auth` frame with a fresh token of the same user at any
time: the answer is another `hello` (same `connection_id`). A token of another user is refused with
`already_authenticated` and the socket stays as it was; an invalid, expired or revoked token closes it with 4001.

## Ids, answers and idempotency

Every client frame may carry an `id` (1..{MAX_ID_LENGTH} chars) that the server echoes in the frame that answers
it: `ack` (`chat.send`, `room.send`, `room.leave`, `room.stop`), `pong` (`ping`) or `error` (any frame, including
one dropped with `rate_limited`). `room.join` is answered by `room.presence`, `resume` by `resumed` per stream.
`chat.send` and `room.send` require an id: it is the client message id, so re-sending after a reconnect creates
nothing new (the `ack` then has `duplicate: true`). Message content is 1..{MAX_CONTENT_LENGTH} characters.

## Rooms

`room.send` and `room.typing` need the socket to have joined the room with `room.join` (else `forbidden`): the
room's messages and replies reach only sockets that joined it.

## Rate limits

Each socket may send {FRAME_RATE} frames a second, in bursts of up to {FRAME_BURST}. A frame over the limit is
dropped and answered with a `rate_limited` error carrying its `id`; send it again after a pause. Drops count
against the socket, and the count falls by {FLOOD_FORGIVEN_PER_SECOND} every second: a socket whose count passes
{FLOOD_LIMIT} is closed with 4009, so bursts separated by quiet never close a long-lived tab.

## Streams and resume

Messages belong to streams, `chat:<replica_id>` and `room:<room_uuid>`, each with its own increasing `seq`.
After reconnecting, send `resume` with the last seq seen per stream: the server replays the missed `message`
frames and then sends `resumed`; `resume_unavailable` means re-fetch over REST. A stream that cannot be resumed
at all is answered with an `error` naming it in `stream`: `not_found` (no such room), `forbidden` (not a member)
or `replica_not_found` (a chat stream of a replica that does not exist).

## Optional fields

Server frames omit fields holding their default (`null`, `false`): treat a missing field as its default.
Ignore unknown fields and frame types.

## Close codes

| Code | Name | Reconnect | When |
|---|---|---|---|
{close_rows}

## Error codes

One vocabulary for both transports: the `code` of an `error` frame (the connection stays open) and of a REST
problem document (answered with the HTTP status shown), the same code for the same cause. `retryable` is set
for the codes marked yes.

| Code | HTTP status | On the socket | Retryable | When |
|---|---|---|---|---|
{error_rows}
"""


def _ws_binding() -> dict[str, Any]:
    subprotocol_header = f"`{SUBPROTOCOL}`, optionally followed by `{TOKEN_SUBPROTOCOL_PREFIX}<jwt>`."
    return {
        "method": "GET",
        "query": {
            "type": "object",
            "properties": {TOKEN_QUERY_PARAM: {"type": "string", "description": "JWT (one of three ways to pass it)."}},
        },
        "headers": {
            "type": "object",
            "properties": {"Sec-WebSocket-Protocol": {"type": "string", "description": subprotocol_header}},
        },
        "bindingVersion": "0.1.0",
    }


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3.0.0 document of the hub: one channel, the frames it receives and the frames it sends."""
    client, server, schemas = _components("#/components/schemas/{name}")
    # AsyncAPI's Schema Object takes the discriminator as a bare property name, not OpenAPI's object.
    schemas = {
        **schemas,
        "ClientFrame": {**client, "discriminator": "type"},
        "ServerFrame": {**server, "discriminator": "type"},
    }
    client_messages = _messages(CLIENT_FRAME_TYPES, "client to server")
    server_messages = _messages(SERVER_FRAME_TYPES, "server to client")
    security = ["subprotocolToken", "queryToken", "authFrame"]

    def channel_refs(messages: dict[str, Any]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{_CHANNEL}/messages/{name}"} for name in messages]

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "sensay-hub WebSocket protocol",
            "version": str(PROTOCOL_VERSION),
            "description": _description(),
            "license": {"name": "MIT"},
            "x-subprotocol": SUBPROTOCOL,
            "x-close-codes": {
                str(code.value): {"name": code.name, "description": code.description, "reconnect": code.reconnect}
                for code in CloseCode
            },
            "x-error-codes": {
                code.value: {
                    "description": code.description,
                    "retryable": code.retryable,
                    "http_status": code.http_status,
                    "socket": code.socket,
                }
                for code in ErrorCode
            },
        },
        "defaultContentType": "application/json",
        "servers": {
            "hub": {
                "host": "{host}",
                "protocol": "wss",
                "description": "A sensay-hub instance (plain `ws` in local development).",
                "variables": {"host": {"default": "localhost:8000", "description": "Host and port of the hub."}},
                "security": [{"$ref": f"#/components/securitySchemes/{name}"} for name in security],
            }
        },
        "channels": {
            _CHANNEL: {
                "address": WS_PATH,
                "title": "Hub connection",
                "description": "The single WebSocket connection of a client.",
                "messages": {
                    name: {"$ref": f"#/components/messages/{name}"} for name in {**client_messages, **server_messages}
                },
                "bindings": {"ws": _ws_binding()},
            }
        },
        "operations": {
            "receiveFrames": {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{_CHANNEL}"},
                "title": "Frames from the client",
                "summary": "Frames a client sends to the hub.",
                "messages": channel_refs(client_messages),
            },
            "sendFrames": {
                "action": "send",
                "channel": {"$ref": f"#/channels/{_CHANNEL}"},
                "title": "Frames to the client",
                "summary": "Frames the hub sends to a client.",
                "messages": channel_refs(server_messages),
            },
        },
        "components": {
            "schemas": schemas,
            "messages": {**client_messages, **server_messages},
            "securitySchemes": {
                "subprotocolToken": {
                    "type": "httpApiKey",
                    "in": "header",
                    "name": "Sec-WebSocket-Protocol",
                    "description": f"Offer `{SUBPROTOCOL}, {TOKEN_SUBPROTOCOL_PREFIX}<jwt>`; "
                    f"the server selects `{SUBPROTOCOL}` and never echoes the token.",
                },
                "queryToken": {
                    "type": "httpApiKey",
                    "in": "query",
                    "name": TOKEN_QUERY_PARAM,
                    "description": "The JWT as a query parameter.",
                },
                "authFrame": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The JWT in an `auth` frame sent before anything else.",
                },
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered_files() -> dict[str, str]:
    """File name to expected content of every generated file."""
    return {JSON_SCHEMA_FILE: render(json_schema()), ASYNCAPI_FILE: render(asyncapi())}


def export(out_dir: Path = SCHEMA_DIR, *, check: bool = False) -> list[Path]:
    """Write the generated files (or only compare them, with ``check``); return those that were stale."""
    stale: list[Path] = []
    for name, content in rendered_files().items():
        path = out_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    return stale
