"""``/api/rooms``: create rooms of users and replicas, list them, change their mode, read messages, add members."""

from __future__ import annotations

from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..rooms.service import NewRoom, Room, RoomChange
from ..state import app_state
from .guard import require_principal
from .operation import Answer, operation, routes_of
from .pages import MessagePage, PageQuery, page_of
from .parsing import path_uuid, read_json, read_query
from .responses import json_response

_ROOM_ID = {"room_id": UUID}
_REPLICA_LOOKUP = (ErrorCode.REPLICA_NOT_FOUND, ErrorCode.REPLICA_UNAVAILABLE, ErrorCode.REPLICA_REJECTED)


class NewMember(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UUID


class RoomList(msgspec.Struct):
    """The rooms the caller belongs to, then open rooms, newest first."""

    rooms: list[Room]


class RoomDetail(msgspec.Struct):
    """A room, its members, who is present, and the user the room acts as at Sensay."""

    room: Room
    members: list[UUID]
    present: list[str]
    sensay_user_id: str


@operation(
    "POST",
    "/api/rooms",
    "createRoom",
    tag="rooms",
    body=NewRoom,
    answers={201: Answer(Room, "The room.", {"Location": "The room's URL."})},
    errors=[*_REPLICA_LOOKUP, ErrorCode.UNKNOWN_USER],
)
async def create_room(request: Request) -> Response:
    """Create a room of users and replicas."""
    principal = await require_principal(request)
    body = await read_json(request, NewRoom)
    room = await app_state(request)["rooms"].create(principal.user_id, body)
    return json_response(room, 201, headers={"Location": f"/api/rooms/{room.id}"})


@operation("GET", "/api/rooms", "listRooms", tag="rooms", answers={200: RoomList})
async def list_rooms(request: Request) -> Response:
    """Rooms the caller belongs to, and open rooms."""
    principal = await require_principal(request)
    return json_response(RoomList(await app_state(request)["rooms"].rooms_of(principal.user_id)))


@operation(
    "GET",
    "/api/rooms/{room_id}",
    "getRoom",
    tag="rooms",
    path_params=_ROOM_ID,
    answers={200: RoomDetail},
    errors=[ErrorCode.NOT_FOUND],
)
async def get_room(request: Request) -> Response:
    """A room, its members and who is present."""
    principal = await require_principal(request)
    view = await app_state(request)["rooms"].view(path_uuid(request, "room_id"), principal.user_id)
    return json_response(RoomDetail(view.room, view.members, view.present, view.sensay_user_id))


@operation(
    "PATCH",
    "/api/rooms/{room_id}",
    "changeRoomMode",
    tag="rooms",
    path_params=_ROOM_ID,
    body=RoomChange,
    answers={200: Answer(Room, "The room with its new mode and settings.")},
    errors=[ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN],
)
async def change_room(request: Request) -> Response:
    """Change the room's mode and settings for its next run (its creator only); members hear a `room.mode` frame."""
    principal = await require_principal(request)
    body = await read_json(request, RoomChange)
    room = await app_state(request)["rooms"].change(path_uuid(request, "room_id"), principal.user_id, body)
    return json_response(room)


@operation(
    "GET",
    "/api/rooms/{room_id}/messages",
    "listRoomMessages",
    tag="rooms",
    path_params=_ROOM_ID,
    query=PageQuery,
    answers={200: MessagePage},
    errors=[ErrorCode.NOT_FOUND],
)
async def room_messages(request: Request) -> Response:
    """A room's messages, newest first, paged by sequence number."""
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    query = read_query(request, PageQuery)
    rooms = app_state(request)["rooms"]
    messages = await rooms.history(room_id, principal.user_id, before=query.before, limit=query.limit)
    return json_response(page_of(messages, query))


@operation(
    "POST",
    "/api/rooms/{room_id}/members",
    "addRoomMember",
    tag="rooms",
    path_params=_ROOM_ID,
    body=NewMember,
    answers={204: None},
    errors=[ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.UNKNOWN_USER],
)
async def add_member(request: Request) -> Response:
    """Add a user to the room (its creator only)."""
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    body = await read_json(request, NewMember)
    await app_state(request)["rooms"].add_member(room_id, principal.user_id, body.user_id)
    return Response(status_code=204)


routes = routes_of(create_room, list_rooms, get_room, change_room, room_messages, add_member)
