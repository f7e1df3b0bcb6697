"""Room presence over processes: in Redis, each process's entries live as long as its heartbeat."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

import pytest
from redis.asyncio import Redis

from server.broker.presence import MemoryPresence, Presence, RedisPresence

from ..services import PrivateRedis

WAIT = 30.0


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}"


class Process:
    """One process's presence, with the local view the hub would give it."""

    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        self.client = Redis.from_url(url, decode_responses=True)
        self.presence = RedisPresence(self.client, prefix=prefix, ttl=ttl)
        self.here: set[tuple[str, UUID]] = set()

    async def start(self) -> Process:
        await self.presence.start(lambda: set(self.here))
        return self

    async def join(self, room: str, user: UUID) -> tuple[bool, set[UUID]]:
        self.here.add((room, user))
        return await self.presence.join(room, user)

    async def leave(self, room: str, user: UUID) -> bool:
        self.here.discard((room, user))
        return await self.presence.leave(room, user)

    async def close(self) -> None:
        await self.presence.stop()
        await self.client.aclose()


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]]) -> None:
    async with asyncio.timeout(WAIT):
        while not await check():
            await asyncio.sleep(0.1)


async def test_memory_presence_announces_first_joins_and_last_leaves() -> None:
    presence: Presence = MemoryPresence()
    room, ada, bob = "r", uuid.uuid4(), uuid.uuid4()
    assert await presence.join(room, ada) == (True, {ada})
    assert await presence.join(room, bob) == (True, {ada, bob})
    assert await presence.join(room, bob) == (False, {ada, bob})
    assert await presence.leave(room, bob) is True
    assert await presence.present(room) == {ada}


async def test_two_processes_share_presence_and_announce_only_first_joins_and_last_leaves(
    redis: PrivateRedis, prefix: str
) -> None:
    room, ada, bob = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    one = await Process(redis.url, prefix, 30).start()
    two = await Process(redis.url, prefix, 30).start()
    try:
        assert await one.join(room, ada) == (True, {ada})
        assert await two.join(room, bob) == (True, {ada, bob}), "the joiner's snapshot spans processes"
        assert await two.join(room, ada) == (False, {ada, bob}), "present on the other process already"
        assert await one.presence.present(room) == await two.presence.present(room) == {ada, bob}
        assert await one.leave(room, ada) is False, "still present through the other process"
        assert await two.leave(room, ada) is True
        assert await one.presence.present(room) == {bob}
    finally:
        await one.close()
        await two.close()


async def test_a_process_whose_heartbeat_stops_drops_out_and_one_that_stops_cleanly_at_once(
    redis: PrivateRedis, prefix: str
) -> None:
    room, ada, bob, cy = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    watcher = await Process(redis.url, prefix, 2.0).start()
    silent = await Process(redis.url, prefix, 2.0).start()
    leaving = await Process(redis.url, prefix, 2.0).start()
    try:
        await watcher.join(room, ada)
        await silent.join(room, bob)
        await leaving.join(room, cy)
        assert await watcher.presence.present(room) == {ada, bob, cy}
        await leaving.close()
        assert await watcher.presence.present(room) == {ada, bob}, "a clean stop removes the process at once"

        assert silent.presence._heart is not None
        silent.presence._heart.cancel()  # as if killed: no more heartbeats, no clean-up

        async def bob_gone() -> bool:
            return await watcher.presence.present(room) == {ada}

        await eventually(bob_gone)
    finally:
        await watcher.close()
        await silent.close()


async def test_presence_survives_a_redis_restart_and_falls_back_to_the_local_view_meanwhile(
    redis: PrivateRedis, prefix: str
) -> None:
    room, ada, bob = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    one = await Process(redis.url, prefix, 1.5).start()
    two = await Process(redis.url, prefix, 1.5).start()
    try:
        await one.join(room, ada)
        await two.join(room, bob)
        await redis.stop()
        assert await one.presence.present(room) == {ada}, "Redis down: this process's own sockets"
        assert await one.leave(room, ada) is True
        one.here.add((room, ada))  # ...and back, while Redis is still down
        await redis.start()  # empty: every entry is gone

        async def written_back() -> bool:
            return await one.presence.present(room) == await two.presence.present(room) == {ada, bob}

        await eventually(written_back)
    finally:
        await one.close()
        await two.close()
