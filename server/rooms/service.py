"""Rooms: creation, membership, history, and messages (store-then-ack, fan-out, then the replicas' turns).

The REST routes and the socket share these methods.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple
from uuid import UUID

import asyncpg
import msgspec

from protocol import MAX_ID_LENGTH, MessageFrame, RoomModeFrame, StoredMessage, room_stream

from ..errors import ClientIdConflict, Forbidden, InvalidInput, NotFound, UnknownUser
from ..hub.hub import ControlMessage, Hub
from ..replies import ReplicaDirectory, faults
from ..store import errors as store_errors
from ..store import rooms
from ..store.records import Room as Room  # re-exported: what the transports show of a room
from ..store.records import RoomMode, RoomSettings
from ..store.room_writer import RoomMessageWriter
from ..store.rooms import NewRoomMessage
from .cache import RoomCache, RoomChanged
from .conductor import RoomConductor
from .prompts import room_sensay_user

ReplicaId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class NewRoom(msgspec.Struct, forbid_unknown_fields=True):
    """What a room is made of."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    replica_ids: Annotated[list[ReplicaId], msgspec.Meta(min_length=1, max_length=6)]
    mode: RoomMode = "natural"
    is_open: bool = False
    member_ids: Annotated[list[UUID], msgspec.Meta(max_length=50)] = []
    settings: RoomSettings = msgspec.field(default_factory=RoomSettings)


class RoomChange(msgspec.Struct, forbid_unknown_fields=True):
    """A room's new mode and settings, for its runs from the next one on (settings left out: the mode's defaults)."""

    mode: RoomMode
    settings: RoomSettings = msgspec.field(default_factory=RoomSettings)


class RoomView(NamedTuple):
    """A room as its members see it."""

    room: Room
    members: list[UUID]
    present: list[str]
    sensay_user_id: str


class RoomAccepted(NamedTuple):
    """A stored room message, the room it went to, and whether its client id had stored it before."""

    room: Room
    message: StoredMessage
    duplicate: bool


class RoomStop(ControlMessage, tag="room_stop", frozen=True):
    """A member stopped the room's turns: whichever process runs them stops them."""

    room_id: UUID
    user_id: UUID


class RoomService:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, conductor: RoomConductor, replicas: ReplicaDirectory) -> None:
        self.pool = pool
        self.hub = hub
        self.conductor = conductor
        self.replicas = replicas
        self.cache = RoomCache()
        self.writer = RoomMessageWriter(pool)
        hub.on_control(RoomStop, self._stop_here)
        hub.on_control(RoomChanged, self._changed_here)

    # -- rooms -----------------------------------------------------------------------------------

    async def create(self, creator: UUID, spec: NewRoom) -> Room:
        """Create a room; every replica must exist for the creator and every member must be a user."""
        if len(set(spec.replica_ids)) != len(spec.replica_ids):
            raise InvalidInput("replica_ids must not repeat")
        _check_settings(spec.mode, spec.replica_ids, spec.settings)
        for replica_id in spec.replica_ids:
            await self.replicas.require(str(creator), replica_id)
        try:
            return await rooms.create_room(
                self.pool,
                creator,
                name=spec.name.strip(),
                mode=spec.mode,
                replica_ids=spec.replica_ids,
                settings=spec.settings,
                is_open=spec.is_open,
                member_ids=spec.member_ids,
            )
        except store_errors.NotFound:
            raise UnknownUser("a member_ids entry is not a user") from None

    async def rooms_of(self, user_id: UUID) -> list[Room]:
        """The rooms the user belongs to, then open rooms, newest first."""
        return await rooms.list_rooms(self.pool, user_id)

    async def view(self, room_id: UUID, user_id: UUID) -> RoomView:
        """The room with its members and who is present; :class:`NotFound` when it is not visible."""
        room = await self._visible(room_id, user_id)
        present = sorted(str(u) for u in await self.hub.present(str(room_id)))
        members = await rooms.members(self.pool, room_id)
        return RoomView(room, members, present, room_sensay_user(room_id))

    async def history(self, room_id: UUID, user_id: UUID, *, before: int | None, limit: int) -> list[StoredMessage]:
        """The room's messages, newest first, paged by ``before`` (a seq)."""
        await self._visible(room_id, user_id)
        return [m.wire() for m in await rooms.list_messages(self.pool, room_id, before=before, limit=limit)]

    async def add_member(self, room_id: UUID, actor: UUID, user_id: UUID) -> None:
        """Add a user to the room; only its creator may."""
        room = await self._visible(room_id, actor)
        if room.created_by != actor:
            raise Forbidden("only the room's creator adds members")
        try:
            added = await rooms.add_member(self.pool, room_id, user_id)
        except store_errors.NotFound:
            raise UnknownUser("no such user") from None
        if added:
            await self.hub.publish_control(RoomChanged(room_id=room_id))

    async def change(self, room_id: UUID, actor: UUID, change: RoomChange) -> Room:
        """Change the room's mode and settings (its creator only), checked as at creation, and tell its members.

        The run under way keeps its mode; the next run reads the room afresh (every process forgets it).
        """
        room = await self._visible(room_id, actor)
        if room.created_by != actor:
            raise Forbidden("only the room's creator changes its mode")
        _check_settings(change.mode, room.replica_ids, change.settings)
        try:
            room = await rooms.change_mode(self.pool, room_id, change.mode, change.settings)
        except store_errors.NotFound:
            raise NotFound("no such room") from None
        await self.hub.publish_control(RoomChanged(room_id=room_id))
        frame = RoomModeFrame(
            room_id=str(room_id),
            mode=room.mode,
            settings=msgspec.to_builtins(room.settings),
            changed_by=str(actor),
        )
        await self.hub.send_to_channel(room_stream(str(room_id)), frame)
        return room

    async def enter(self, room_id: UUID, user_id: UUID) -> Room:
        """The room, making the user a member of an open room; :class:`NotFound` when it is not visible."""
        if (room := self.cache.member_room(room_id, user_id)) is not None:
            return room
        room = await self._visible(room_id, user_id)
        if room.is_open and await rooms.add_member(self.pool, room.id, user_id):
            await self.hub.publish_control(RoomChanged(room_id=room.id))
        self.cache.remember(room, user_id)  # a closed room is visible to its members only
        return room

    async def member_room(self, room_id: UUID, user_id: UUID) -> Room:
        """The room if the user is a member; :class:`NotFound` or :class:`Forbidden` otherwise."""
        if (room := self.cache.member_room(room_id, user_id)) is not None:
            return room
        room = await self._visible(room_id, user_id)
        if not await rooms.is_member(self.pool, room_id, user_id):
            raise Forbidden("you are not a member of this room")
        self.cache.remember(room, user_id)
        return room

    def forget_rooms(self) -> None:
        """Drop every cached room and membership (should a change have gone unannounced)."""
        self.cache.clear()

    # -- messages --------------------------------------------------------------------------------

    async def send(self, room_id: UUID, user_id: UUID, content: str, client_id: str) -> RoomAccepted:
        """Store a member's message once per client id; :class:`ClientIdConflict` if the id stored another."""
        room = await self.member_room(room_id, user_id)
        try:
            message, duplicate = await self.writer.append(
                NewRoomMessage(room.id, "user", content, user_id=user_id, client_id=client_id)
            )
        except store_errors.NotFound:
            raise NotFound("no such room") from None
        if duplicate and message.message != content:
            raise ClientIdConflict("this id was already used for a different message")
        return RoomAccepted(room, message.wire(), duplicate)

    async def deliver(self, accepted: RoomAccepted) -> None:
        """Show a new message to the room and let its replicas answer (a resent message re-runs a failed run)."""
        faults.after_ack()
        if accepted.duplicate:
            await self.conductor.retry(accepted.room, accepted.message)
            return
        await self.hub.send_to_channel(accepted.message.stream, MessageFrame(message=accepted.message))
        self.conductor.trigger(accepted.room, accepted.message)

    async def latest_seq(self, room_id: UUID, user_id: UUID) -> int:
        """The seq of the room's newest message, for a member; :class:`NotFound` or :class:`Forbidden`."""
        await self.member_room(room_id, user_id)
        return await rooms.latest_seq(self.pool, room_id)

    async def replay(self, room_id: UUID, after: int, limit: int) -> list[StoredMessage]:
        """The room's messages after seq ``after``, oldest first (for resume; check membership first)."""
        return [m.wire() for m in await rooms.messages_after(self.pool, room_id, after, limit)]

    async def stop(self, room_id: UUID, user_id: UUID) -> None:
        """Stop the room's replica turns on whichever process runs them (members only)."""
        await self.member_room(room_id, user_id)
        await self.hub.publish_control(RoomStop(room_id=room_id, user_id=user_id))

    async def _stop_here(self, message: RoomStop) -> None:
        await self.conductor.stop(message.room_id, "stopped by a member")

    async def _changed_here(self, message: RoomChanged) -> None:
        self.cache.forget(message.room_id)

    async def _visible(self, room_id: UUID, user_id: UUID) -> Room:
        try:
            return await rooms.visible_room(self.pool, room_id, user_id)
        except store_errors.NotFound:
            raise NotFound("no such room") from None


def _check_settings(mode: RoomMode, replica_ids: list[str], settings: RoomSettings) -> None:
    """What the types cannot say: the roles name the room's replicas, and each mode has what it needs."""
    for role in ("moderator_id", "judge_id"):
        if getattr(settings, role) not in (None, *replica_ids):
            raise InvalidInput(f"must be one of the room's replica_ids - at `$.settings.{role}`")
    speakers = len(replica_ids) - (mode == "moderated")
    if mode == "moderated" and speakers < 1:
        raise InvalidInput("a moderated room needs a moderator and at least one speaker - at `$.replica_ids`")
    if mode == "topic" and settings.topic is None:
        raise InvalidInput("a topic room needs a topic - at `$.settings.topic`")
    if settings.consensus and speakers < 2:
        raise InvalidInput("consensus needs at least two speaking replicas - at `$.settings.consensus`")
