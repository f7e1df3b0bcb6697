"""Room messages: membership checks, store-then-ack, fan-out to the room, then the replicas' turns."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from protocol import room_stream

from ..hub.frames import message_frame
from ..hub.hub import Hub
from ..store import rooms
from ..store.records import Room, RoomMessage
from .conductor import RoomConductor


class NotAMember(Exception):
    """The user may not post to (or control) this room."""


class RoomService:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, conductor: RoomConductor) -> None:
        self.pool = pool
        self.hub = hub
        self.conductor = conductor
        hub.add_control_handler("room_stop", self._stop_here)

    async def enter(self, room_id: UUID, user_id: UUID) -> Room:
        """The room, making the user a member of an open room; :class:`NotFound` when it is not visible."""
        room = await rooms.visible_room(self.pool, room_id, user_id)
        if room.is_open:
            await rooms.add_member(self.pool, room.id, user_id)
        return room

    async def member_room(self, room_id: UUID, user_id: UUID) -> Room:
        room = await rooms.visible_room(self.pool, room_id, user_id)
        if not await rooms.is_member(self.pool, room_id, user_id):
            raise NotAMember(str(room_id))
        return room

    async def accept(self, room: Room, user_id: UUID, content: str, client_id: str) -> tuple[RoomMessage, bool]:
        """Store a member's message once per client id (the caller has the room from :meth:`member_room`)."""
        return await rooms.append_message(
            self.pool, room.id, sender="user", content=content, user_id=user_id, client_id=client_id
        )

    async def deliver(self, room: Room, message: RoomMessage, duplicate: bool) -> None:
        """Show a new message to the room and let its replicas answer."""
        if duplicate:
            return
        await self.hub.send_to_channel(room_stream(str(room.id)), message_frame(message))
        self.conductor.trigger(room, message)

    async def stop(self, room_id: UUID, user_id: UUID) -> None:
        """Stop the room's replica turns on whichever process runs them."""
        await self.hub.publish_control("room_stop", room_id=str(room_id), user_id=str(user_id))

    async def _stop_here(self, message: dict[str, Any]) -> None:
        await self.conductor.stop(UUID(message["room_id"]), "stopped by a member")
