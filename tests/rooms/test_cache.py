"""The per-process room cache: it remembers only what the database confirmed, and forgets on announcement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.rooms.cache import RoomCache
from server.store.records import Room, RoomSettings


def _room() -> Room:
    return Room(
        id=uuid.uuid4(), name="r", created_by=uuid.uuid4(), mode="natural", replica_ids=["a"],
        settings=RoomSettings(), is_open=False, last_seq=0, created_at=datetime.now(UTC),
    )  # fmt: skip


def test_only_confirmed_members_are_remembered() -> None:
    """A member seen once is known; another user of the same room still goes to the database."""
    cache, room, member, other = RoomCache(), _room(), uuid.uuid4(), uuid.uuid4()
    assert cache.member_room(room.id, member) is None
    cache.remember(room, member)
    assert cache.member_room(room.id, member) == room
    assert cache.member_room(room.id, other) is None


def test_a_changed_room_is_forgotten_and_a_gap_forgets_all() -> None:
    cache, first, second, user = RoomCache(), _room(), _room(), uuid.uuid4()
    cache.remember(first, user)
    cache.remember(second, user)
    cache.forget(first.id)
    assert (cache.member_room(first.id, user), cache.member_room(second.id, user)) == (None, second)
    cache.clear()
    assert cache.member_room(second.id, user) is None


def test_the_oldest_room_goes_past_the_bound() -> None:
    cache, user = RoomCache(max_rooms=2), uuid.uuid4()
    rooms = [_room() for _ in range(3)]
    for room in rooms:
        cache.remember(room, user)
    assert [cache.member_room(r.id, user) for r in rooms] == [None, rooms[1], rooms[2]]


def test_a_room_in_use_outlives_older_unused_ones_past_the_bound() -> None:
    """Past the bound the least recently used room goes, not the first remembered."""
    cache, user = RoomCache(max_rooms=2), uuid.uuid4()
    busy, idle, new = _room(), _room(), _room()
    cache.remember(busy, user)
    cache.remember(idle, user)
    assert cache.member_room(busy.id, user) == busy
    cache.remember(new, user)
    assert [cache.member_room(r.id, user) for r in (busy, idle, new)] == [busy, None, new]
