"""Room messages stored in groups: one commit for concurrent sends, seqs gap-free, one bad message fails alone."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import asyncpg
import pytest

from server.store import rooms, users
from server.store.errors import NotFound
from server.store.records import RoomSettings
from server.store.room_writer import RoomMessageWriter
from server.store.rooms import NewRoomMessage, Stored


async def _room(pool: asyncpg.Pool, creator: UUID, name: str) -> UUID:
    room = await rooms.create_room(
        pool, creator, name=name, mode="natural", replica_ids=["r"], settings=RoomSettings(), is_open=False,
        member_ids=[],
    )  # fmt: skip
    return room.id


async def _seqs(pool: asyncpg.Pool, room_id: UUID) -> list[int]:
    return [m.seq for m in reversed(await rooms.list_messages(pool, room_id, before=None, limit=1000))]


async def test_concurrent_sends_share_commits_and_each_room_counts_without_gaps(pool: asyncpg.Pool) -> None:
    """60 sends at once to 3 rooms: every one stored once, seqs 1..20 per room, in fewer commits than sends."""
    user = await users.create_user(pool, "writer@example.com", None)
    room_ids = [await _room(pool, user.id, f"room {i}") for i in range(3)]
    writer = RoomMessageWriter(pool)
    sends = [
        NewRoomMessage(room_ids[i % 3], "user", f"message {i}", user_id=user.id, client_id=f"c{i}") for i in range(60)
    ]
    results = await asyncio.gather(*(writer.append(message) for message in sends))

    for message, (stored, duplicate) in zip(sends, results, strict=True):
        assert (stored.room_id, stored.message, stored.client_id, duplicate) == (
            message.room_id, message.content, message.client_id, False,
        )  # fmt: skip
    for room_id in room_ids:
        assert await _seqs(pool, room_id) == list(range(1, 21))
        assert await rooms.latest_seq(pool, room_id) == 20
    # A row's created_at is its transaction's start: messages that shared a commit share it.
    commits = {stored.created_at for stored, _ in results}
    assert len(commits) < len(sends)


async def test_an_ack_means_the_row_is_committed(pool: asyncpg.Pool) -> None:
    """When ``append`` answers, another connection already reads the message."""
    user = await users.create_user(pool, "commit@example.com", None)
    room_id = await _room(pool, user.id, "commit")
    writer = RoomMessageWriter(pool)
    stored, _ = await writer.append(NewRoomMessage(room_id, "user", "hello", user_id=user.id, client_id="a"))
    async with pool.acquire() as other:
        assert [m.id for m in await rooms.messages_after(other, room_id, 0, 10)] == [stored.id]


async def test_a_bad_message_fails_alone_and_leaves_no_gap(pool: asyncpg.Pool) -> None:
    """A vanished sender and a missing room fail their own sends; the batch's others are stored, seqs 1..n."""
    user = await users.create_user(pool, "good@example.com", None)
    room_id = await _room(pool, user.id, "mixed")
    writer = RoomMessageWriter(pool)
    ghost = uuid.uuid4()  # not a user: its row breaks the foreign key, and with it the whole batch statement
    sends = [
        NewRoomMessage(room_id, "user", "one", user_id=user.id, client_id="1"),
        NewRoomMessage(room_id, "user", "ghost", user_id=ghost, client_id="g"),
        NewRoomMessage(uuid.uuid4(), "user", "nowhere", user_id=user.id, client_id="n"),
        NewRoomMessage(room_id, "user", "two", user_id=user.id, client_id="2"),
    ]
    results: list[Stored | BaseException] = await asyncio.gather(
        *(writer.append(message) for message in sends), return_exceptions=True
    )

    assert isinstance(results[1], asyncpg.ForeignKeyViolationError)
    assert isinstance(results[2], NotFound)
    stored = [r[0] for r in results if isinstance(r, tuple)]
    assert sorted(m.message for m in stored) == ["one", "two"]
    assert await _seqs(pool, room_id) == [1, 2]
    # The room goes on counting from there.
    later, _ = await writer.append(NewRoomMessage(room_id, "user", "three", user_id=user.id, client_id="3"))
    assert later.seq == 3


async def test_a_repeated_client_id_stores_once(pool: asyncpg.Pool) -> None:
    """The same client id twice in one batch, and again later: one row, the repeats answer with it."""
    user = await users.create_user(pool, "repeat@example.com", None)
    room_id = await _room(pool, user.id, "repeat")
    writer = RoomMessageWriter(pool)
    message = NewRoomMessage(room_id, "user", "once", user_id=user.id, client_id="same")
    (first, first_dup), (second, second_dup) = await asyncio.gather(writer.append(message), writer.append(message))
    (third, third_dup) = await writer.append(message)

    assert first.id == second.id == third.id
    assert (first_dup, second_dup, third_dup) == (False, True, True)
    assert await _seqs(pool, room_id) == [1]


async def test_replica_messages_without_client_ids_all_count(pool: asyncpg.Pool) -> None:
    """Messages without a client id (the replicas') are never taken for repeats."""
    user = await users.create_user(pool, "replicas@example.com", None)
    room_id = await _room(pool, user.id, "replicas")
    writer = RoomMessageWriter(pool)
    same = NewRoomMessage(room_id, "replica", "same words", replica_id="r")
    results = await asyncio.gather(*(writer.append(same) for _ in range(5)))
    assert [duplicate for _, duplicate in results] == [False] * 5
    assert await _seqs(pool, room_id) == [1, 2, 3, 4, 5]


async def test_append_message_still_stores_one(pool: asyncpg.Pool) -> None:
    """The one-message path (replica turns) in one statement: a missing room is NotFound."""
    user = await users.create_user(pool, "single@example.com", None)
    room_id = await _room(pool, user.id, "single")
    stored, duplicate = await rooms.append_message(pool, room_id, sender="user", content="hi", user_id=user.id)
    assert (stored.seq, duplicate) == (1, False)
    with pytest.raises(NotFound):
        await rooms.append_message(pool, uuid.uuid4(), sender="replica", content="x", replica_id="r")


async def test_two_processes_writing_to_the_same_rooms_keep_seqs_gap_free(pool: asyncpg.Pool) -> None:
    """Two writers (as two hub processes) batching into the same rooms at once: every seq once, none skipped."""
    user = await users.create_user(pool, "two@example.com", None)
    room_ids = [await _room(pool, user.id, f"shared {i}") for i in range(4)]
    writers = [RoomMessageWriter(pool), RoomMessageWriter(pool)]
    sends = [
        (writers[i % 2], NewRoomMessage(room_ids[(i * 7) % 4], "user", f"m{i}", user_id=user.id, client_id=f"{i}"))
        for i in range(200)
    ]
    results = await asyncio.gather(*(writer.append(message) for writer, message in sends))

    assert all(not duplicate for _, duplicate in results)
    for room_id in room_ids:
        assert await _seqs(pool, room_id) == list(range(1, 51))


async def test_senders_in_a_closed_loop_are_all_answered(pool: asyncpg.Pool) -> None:
    """Senders that send again as soon as they are answered (as sockets do): no message is left unanswered
    when it arrives as a batch ends."""
    user = await users.create_user(pool, "loop@example.com", None)
    room_id = await _room(pool, user.id, "loop")
    writer = RoomMessageWriter(pool)

    async def sender(n: int) -> list[int]:
        seqs = []
        for i in range(20):
            stored, _ = await writer.append(NewRoomMessage(room_id, "user", "x", user_id=user.id, client_id=f"{n}.{i}"))
            seqs.append(stored.seq)
        return seqs

    answered = await asyncio.wait_for(asyncio.gather(*(sender(n) for n in range(30))), timeout=60)
    assert sorted(seq for seqs in answered for seq in seqs) == list(range(1, 601))
