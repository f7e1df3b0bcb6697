"""Rooms and memberships this process has checked, so a room message costs no look-up before it is stored.

Only what the database confirmed is kept (a room and a user found to be its member), never an absence, so a new
member or a new room is seen at once. A change to a room or its members is announced as a hub control message
(:class:`RoomChanged`, which the broker keeps through an outage) and every process forgets that room;
:meth:`RoomCache.clear` forgets everything, should an announcement ever be lost.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from cachetools import LRUCache

from ..hub.hub import ControlMessage
from ..store.records import Room

MAX_ROOMS: Final = 10_000
"""Rooms remembered per process; the least recently used goes first past it."""


class RoomChanged(ControlMessage, tag="room_changed", frozen=True):
    """A room or its membership changed: every process forgets what it cached of it."""

    room_id: UUID


class RoomCache:
    """Rooms by id with the members seen sending to them; bounded by :data:`MAX_ROOMS`."""

    def __init__(self, max_rooms: int = MAX_ROOMS) -> None:
        self._rooms: LRUCache[UUID, tuple[Room, set[UUID]]] = LRUCache(max_rooms)

    def member_room(self, room_id: UUID, user_id: UUID) -> Room | None:
        """The room if this user was found to be its member, else ``None`` (ask the database)."""
        entry = self._rooms.get(room_id)
        return entry[0] if entry is not None and user_id in entry[1] else None

    def remember(self, room: Room, member: UUID) -> None:
        """The database confirmed ``member`` belongs to ``room``."""
        entry = self._rooms.get(room.id)
        if entry is None:
            entry = self._rooms[room.id] = (room, set())
        entry[1].add(member)

    def forget(self, room_id: UUID) -> None:
        """The room changed: ask the database again."""
        self._rooms.pop(room_id, None)

    def clear(self) -> None:
        """Forget every room."""
        self._rooms.clear()
