"""``/api/server/*``: the server API for the people who run sensay-hub, authenticated by the service key.

As Centrifugo's server API does: publish a notification to a user or a room, disconnect a user's sockets, and
see a room's presence and a user's connections. Every call reaches every process that shares the broker. And
seed a replica's memories for Token-Gated Memories.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import NotificationFrame, room_stream

from ..errors import InvalidInput
from ..hub.operators import ConnectionInfo
from ..prototypes.token_gated_memories import MemoryView, SeedMemory
from ..state import app_state
from .guard import require_service_key
from .operation import Answer, operation, routes_of
from .parsing import path_uuid, read_json
from .responses import json_response

DISCONNECT_REASON = "disconnected by an operator"


class Publish(msgspec.Struct, forbid_unknown_fields=True):
    """A notification for one user (``user_id``) or for every member socket of a room (``room_id``)."""

    event: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    data: dict[str, Any] = {}
    user_id: UUID | None = None
    room_id: UUID | None = None


class Published(msgspec.Struct):
    """Where the notification went (it reaches every process that shares the broker)."""

    published: Literal["user", "room"]


class Disconnected(msgspec.Struct):
    disconnected: bool


class Presence(msgspec.Struct):
    """The users with a socket in the room, over every process."""

    room_id: UUID
    user_ids: list[str]


class Connections(msgspec.Struct):
    """The user's sockets, over every process."""

    user_id: UUID
    connections: list[ConnectionInfo]


_SERVICE = ("serviceKey",)
_USER_ID = {"user_id": UUID}


@operation(
    "POST",
    "/api/server/publish",
    "serverPublish",
    tag="server",
    body=Publish,
    answers={202: Answer(Published, "Sent to every process.")},
    security=_SERVICE,
)
async def publish(request: Request) -> Response:
    """Send a notification frame to a user's sockets or a room's member sockets, on every process."""
    require_service_key(request)
    body = await read_json(request, Publish)
    if (body.user_id is None) == (body.room_id is None):
        raise InvalidInput("give exactly one of user_id and room_id")
    hub = app_state(request)["hub"]
    if body.user_id is not None:
        await hub.send_to_user(body.user_id, NotificationFrame(event=body.event, data=body.data))
        return json_response(Published("user"), 202)
    room_id = str(body.room_id)
    await hub.send_to_channel(
        room_stream(room_id), NotificationFrame(event=body.event, data=body.data, room_id=room_id)
    )
    return json_response(Published("room"), 202)


@operation(
    "POST",
    "/api/server/users/{user_id}/disconnect",
    "serverDisconnectUser",
    tag="server",
    path_params=_USER_ID,
    answers={202: Answer(Disconnected, "The disconnect was sent to every process.")},
    security=_SERVICE,
)
async def disconnect(request: Request) -> Response:
    """Close every socket of the user (close code 4011), on every process."""
    require_service_key(request)
    await app_state(request)["operators"].disconnect(path_uuid(request, "user_id"), DISCONNECT_REASON)
    return json_response(Disconnected(True), 202)


@operation(
    "GET",
    "/api/server/rooms/{room_id}/presence",
    "serverRoomPresence",
    tag="server",
    path_params={"room_id": UUID},
    answers={200: Presence},
    security=_SERVICE,
)
async def presence(request: Request) -> Response:
    """The users with a socket in the room, over every process."""
    require_service_key(request)
    room_id = path_uuid(request, "room_id")
    user_ids = await app_state(request)["operators"].presence(room_id)
    return json_response(Presence(room_id, user_ids))


@operation(
    "GET",
    "/api/server/users/{user_id}/connections",
    "serverUserConnections",
    tag="server",
    path_params=_USER_ID,
    answers={200: Connections},
    security=_SERVICE,
)
async def connections(request: Request) -> Response:
    """The user's sockets (id, process, connected_at, rooms), over every process."""
    require_service_key(request)
    user_id = path_uuid(request, "user_id")
    found = await app_state(request)["operators"].connections(user_id)
    return json_response(Connections(user_id, found))


@operation(
    "POST",
    "/api/server/memories",
    "serverSeedMemory",
    tag="server",
    body=SeedMemory,
    answers={200: Answer(MemoryView, "The house memory as stored (new, or the one with this content re-tiered).")},
    security=_SERVICE,
)
async def seed_memory(request: Request) -> Response:
    """Give a replica a memory to unlock in Token-Gated Memories (a house memory: no author, spending on it pays
    no one); seeding the same replica and content again sets its tier and price."""
    require_service_key(request)
    body = await read_json(request, SeedMemory)
    return json_response(await app_state(request)["prototypes"].seed_memory(body))


routes = routes_of(publish, disconnect, presence, connections, seed_memory)
