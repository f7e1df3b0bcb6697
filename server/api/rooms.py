"""``/api/rooms``: create rooms of users and replicas, list them, read their messages, add members."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import MAX_ID_LENGTH

from ..rooms.conductor import DEFAULT_MAX_TURNS, DEFAULT_TIME_LIMIT, MAX_TURNS, room_sensay_user
from ..sensay.errors import SensayBadRequest, SensayError, SensayNotFound
from ..store import rooms
from ..store.errors import NotFound
from ..store.records import RoomMode
from .guard import require_principal
from .parsing import path_uuid, query_int, read_json
from .problems import Problem
from .responses import json_response

ReplicaId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class RoomSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    max_turns: Annotated[int, msgspec.Meta(ge=1, le=MAX_TURNS)] = DEFAULT_MAX_TURNS
    time_limit_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = DEFAULT_TIME_LIMIT
    topic: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    moderator_id: ReplicaId | None = None


class NewRoom(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    replica_ids: Annotated[list[ReplicaId], msgspec.Meta(min_length=1, max_length=6)]
    mode: RoomMode = "natural"
    is_open: bool = False
    member_ids: Annotated[list[UUID], msgspec.Meta(max_length=50)] = []
    settings: RoomSettings = msgspec.field(default_factory=RoomSettings)


class NewMember(msgspec.Struct, forbid_unknown_fields=True):
    user_id: UUID


async def create_room(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, NewRoom)
    if len(set(body.replica_ids)) != len(body.replica_ids):
        raise Problem(422, "validation_error", "replica_ids must not repeat")
    if body.settings.moderator_id is not None and body.settings.moderator_id not in body.replica_ids:
        raise Problem(422, "validation_error", "the moderator must be one of the room's replicas")
    if body.mode == "moderated" and len(body.replica_ids) < 2:
        raise Problem(422, "validation_error", "a moderated room needs a moderator and at least one speaker")
    sensay = request.state.sensay
    for replica_id in body.replica_ids:
        try:
            await sensay.get_replica(str(principal.user_id), replica_id)
        except (SensayNotFound, SensayBadRequest):
            raise Problem(422, "unknown_replica", f"no replica {replica_id!r}") from None
        except SensayError:
            raise Problem(503, "replica_unavailable", "the replica service failed") from None
    try:
        room = await rooms.create_room(
            request.state.pool,
            principal.user_id,
            name=body.name.strip(),
            mode=body.mode,
            replica_ids=body.replica_ids,
            settings=msgspec.to_builtins(body.settings),
            is_open=body.is_open,
            member_ids=body.member_ids,
        )
    except NotFound:
        raise Problem(422, "unknown_user", "a member_ids entry is not a user") from None
    return json_response(room, 201, headers={"Location": f"/api/rooms/{room.id}"})


async def list_rooms(request: Request) -> Response:
    principal = await require_principal(request)
    return json_response({"rooms": await rooms.list_rooms(request.state.pool, principal.user_id)})


async def get_room(request: Request) -> Response:
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    pool = request.state.pool
    try:
        room = await rooms.visible_room(pool, room_id, principal.user_id)
    except NotFound:
        raise Problem(404, "not_found", "no such room") from None
    present = sorted(str(u) for u in request.state.hub.present(str(room_id)))
    return json_response(
        {
            "room": room,
            "members": await rooms.members(pool, room_id),
            "present": present,
            "sensay_user_id": room_sensay_user(room_id),
        }
    )


async def room_messages(request: Request) -> Response:
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    before = query_int(request, "before", default=None, low=1, high=2**62)
    limit = query_int(request, "limit", default=50, low=1, high=200)
    assert limit is not None
    pool = request.state.pool
    try:
        await rooms.visible_room(pool, room_id, principal.user_id)
    except NotFound:
        raise Problem(404, "not_found", "no such room") from None
    messages = await rooms.list_messages(pool, room_id, before=before, limit=limit)
    next_before = messages[-1].seq if len(messages) == limit else None
    return json_response({"messages": [m.wire() for m in messages], "next_before": next_before})


async def add_member(request: Request) -> Response:
    principal = await require_principal(request)
    room_id = path_uuid(request, "room_id")
    body = await read_json(request, NewMember)
    pool = request.state.pool
    try:
        room = await rooms.visible_room(pool, room_id, principal.user_id)
    except NotFound:
        raise Problem(404, "not_found", "no such room") from None
    if room.created_by != principal.user_id:
        raise Problem(403, "forbidden", "only the room's creator adds members")
    try:
        await rooms.add_member(pool, room_id, body.user_id)
    except NotFound:
        raise Problem(422, "unknown_user", "no such user") from None
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
    ("post", "/api/rooms", "Create a room of users and replicas", NewRoom, {201: "the room", **_AUTH}),
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
