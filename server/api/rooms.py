"""``/api/rooms``: create rooms of users and replicas, list them, read their messages, add members."""

from __future__ import annotations

from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..rooms.service import NewRoom
from ..state import app_state
from .guard import require_principal
from .parsing import path_uuid, query_int, read_json
from .responses import json_response

MAX_PAGE = 200


class NewMember(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UUID


async def create_room(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, NewRoom)
    room = await app_state(request)["rooms"].create(principal.user_id, body)
    return json_response(room, 201, headers={"Location": f"/api/rooms/{room.id}"})


async def list_rooms(request: Request) -> Response:
    principal = await require_principal(request)
    return json_response({"rooms": await app_state(request)["rooms"].rooms_of(principal.user_id)})


async def get_room(request: Request) -> Response:
    principal = await require_principal(request)
    view = await app_state(request)["rooms"].view(path_uuid(request, "room_id"), principal.user_id)
    return json_response(view._asdict())


async def room_messages(request: Request) -> Response:
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    before = query_int(request, "before", default=None, low=1, high=2**62)
    limit = query_int(request, "limit", default=50, low=1, high=MAX_PAGE)
    assert limit is not None
    messages = await app_state(request)["rooms"].history(room_id, principal.user_id, before=before, limit=limit)
    next_before = messages[-1].seq if len(messages) == limit else None
    return json_response({"messages": messages, "next_before": next_before})


async def add_member(request: Request) -> Response:
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    body = await read_json(request, NewMember)
    await app_state(request)["rooms"].add_member(room_id, principal.user_id, body.user_id)
    return Response(status_code=204)


routes = [
    Route("/api/rooms", list_rooms, methods=["GET"]),
    Route("/api/rooms", create_room, methods=["POST"]),
    Route("/api/rooms/{room_id}", get_room, methods=["GET"]),
    Route("/api/rooms/{room_id}/messages", room_messages, methods=["GET"]),
    Route("/api/rooms/{room_id}/members", add_member, methods=["POST"]),
]

_AUTH = {401: "missing, invalid or revoked token"}
OPERATIONS = [
    ("get", "/api/rooms", "Rooms the caller belongs to, and open rooms", None, {200: "rooms", **_AUTH}),
    (
        "post",
        "/api/rooms",
        "Create a room of users and replicas",
        NewRoom,
        {201: "the room", 404: "unknown replica (replica_not_found)", **_AUTH},
    ),
    ("get", "/api/rooms/{room_id}", "A room, its members and who is present", None, {200: "room", 404: "no such room"}),
    (
        "get",
        "/api/rooms/{room_id}/messages",
        "A room's messages, newest first, paged by sequence number",
        None,
        {200: "a page of messages", 404: "no such room", **_AUTH},
    ),
    (
        "post",
        "/api/rooms/{room_id}/members",
        "Add a user to the room (creator only)",
        NewMember,
        {204: "added", 403: "not the creator", 404: "no such room", **_AUTH},
    ),
]
