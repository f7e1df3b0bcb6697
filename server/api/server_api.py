"""``/api/server/*``: the server API for the people who run sensay-hub, authenticated by the service key.

As Centrifugo's server API does: publish a notification to a user or a room, disconnect a user's sockets, and
see a room's presence and a user's connections. Every call reaches every process that shares the broker.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import NotificationFrame, room_stream

from ..errors import InvalidInput
from ..state import app_state
from .guard import require_service_key
from .parsing import path_uuid, read_json
from .responses import json_response

DISCONNECT_REASON = "disconnected by an operator"


class Publish(msgspec.Struct, forbid_unknown_fields=True):
    """A notification for one user (``user_id``) or for every member socket of a room (``room_id``)."""

    event: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    data: dict[str, Any] = {}
    user_id: UUID | None = None
    room_id: UUID | None = None


async def publish(request: Request) -> Response:
    require_service_key(request)
    body = await read_json(request, Publish)
    if (body.user_id is None) == (body.room_id is None):
        raise InvalidInput("give exactly one of user_id and room_id")
    hub = app_state(request)["hub"]
    if body.user_id is not None:
        await hub.send_to_user(body.user_id, NotificationFrame(event=body.event, data=body.data))
        return json_response({"published": "user"}, 202)
    room_id = str(body.room_id)
    await hub.send_to_channel(
        room_stream(room_id), NotificationFrame(event=body.event, data=body.data, room_id=room_id)
    )
    return json_response({"published": "room"}, 202)


async def disconnect(request: Request) -> Response:
    require_service_key(request)
    await app_state(request)["operators"].disconnect(path_uuid(request, "user_id"), DISCONNECT_REASON)
    return json_response({"disconnected": True}, 202)


async def presence(request: Request) -> Response:
    require_service_key(request)
    room_id = path_uuid(request, "room_id")
    user_ids = await app_state(request)["operators"].presence(room_id)
    return json_response({"room_id": room_id, "user_ids": user_ids})


async def connections(request: Request) -> Response:
    require_service_key(request)
    user_id = path_uuid(request, "user_id")
    found = await app_state(request)["operators"].connections(user_id)
    return json_response({"user_id": user_id, "connections": found})


_KEY = {401: "missing or wrong service key"}
OPERATIONS: list[tuple[str, str, str, type | None, dict[int, str]]] = [
    (
        "post",
        "/api/server/publish",
        "Send a notification frame to a user's sockets or a room's member sockets, on every process",
        Publish,
        {202: "published", **_KEY},
    ),
    (
        "post",
        "/api/server/users/{user_id}/disconnect",
        "Close every socket of the user (close code 4011), on every process",
        None,
        {202: "disconnect sent", **_KEY},
    ),
    (
        "get",
        "/api/server/rooms/{room_id}/presence",
        "The users with a socket in the room, over every process",
        None,
        {200: "presence", **_KEY},
    ),
    (
        "get",
        "/api/server/users/{user_id}/connections",
        "The user's sockets (id, process, connected_at, rooms), over every process",
        None,
        {200: "connections", **_KEY},
    ),
]
PATHS = frozenset(path for _, path, *_ in OPERATIONS)

routes = [
    Route("/api/server/publish", publish, methods=["POST"]),
    Route("/api/server/users/{user_id}/disconnect", disconnect, methods=["POST"]),
    Route("/api/server/rooms/{room_id}/presence", presence, methods=["GET"]),
    Route("/api/server/users/{user_id}/connections", connections, methods=["GET"]),
]
