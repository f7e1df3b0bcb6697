"""The Realtime service across processes: two services on one private Redis, as two hubs are."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from server.broker.redis import RedisBroker
from server.realtime.channel import Channel
from server.realtime.phoenix import Vsn
from server.realtime.service import Realtime
from server.realtime.tokens import Claims

from ..services import PrivateRedis

WAIT = 5.0
BEAT = 0.2


class Socket:
    """What a socket's send queue would carry, readable with a bounded wait."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[Any] = asyncio.Queue()

    def __call__(self, frame: str | bytes) -> None:
        self.frames.put_nowait(json.loads(frame))

    async def diff(self, part: str, key: str) -> dict[str, Any]:
        """The next ``presence_diff`` whose ``part`` (joins or leaves) names ``key``."""
        async with asyncio.timeout(WAIT):
            while True:
                _, _, _, name, payload = await self.frames.get()
                if name == "presence_diff" and key in payload[part]:
                    return payload  # type: ignore[no-any-return]


def _channel(socket: Socket, key: str) -> Channel:
    claims = Claims("anon", None, None, {"role": "anon"}, "anon-key")
    channel = Channel("realtime:lobby", "1", claims, Vsn.V2, socket, presence_key=key)
    channel.presence_enabled = True
    return channel


@pytest.fixture
async def two(pool: asyncpg.Pool, redis: PrivateRedis) -> AsyncIterator[tuple[Realtime, Realtime]]:
    one = Realtime(RedisBroker(redis.url), pool, presence_beat=BEAT)
    other = Realtime(RedisBroker(redis.url), pool, presence_beat=BEAT)
    await one.start()
    await other.start()
    try:
        yield one, other
    finally:
        for service in (one, other):
            with contextlib.suppress(Exception):
                await service.stop()


async def test_presence_of_a_process_that_went_silent_leaves(two: tuple[Realtime, Realtime]) -> None:
    """A process that stops without saying so (crashed, cut off) loses its presence on the others after a few
    missed beats; one that stops cleanly announces its leaves at once."""
    one, other = two
    here, there = Socket(), Socket()
    mine, theirs = _channel(here, "one"), _channel(there, "other")
    await one.attach(mine)
    await other.attach(theirs)
    await one.track(mine, {"on": 1})
    await there.diff("joins", "one")
    await other.track(theirs, {"on": 2})
    await here.diff("joins", "other")

    assert one._beat is not None  # a crash: no more beats, no goodbye
    one._beat.cancel()
    left = await there.diff("leaves", "one")
    assert list(left["leaves"]) == ["one"] and left["joins"] == {}
    assert other.presence_state(theirs).keys() == {"other"}

    await other.stop()  # a clean stop: its leaves are announced (``one`` no longer sweeps, so nothing else says so)
    await here.diff("leaves", "other")


async def test_a_broker_gap_is_told_and_presence_asked_again(
    two: tuple[Realtime, Realtime], redis: PrivateRedis
) -> None:
    """Redis restarted: broadcasts may have been lost, so each channel hears a ``system`` error saying so; the other
    processes' presence is forgotten and learnt again from them."""
    one, other = two
    here, there = Socket(), Socket()
    mine, theirs = _channel(here, "one"), _channel(there, "other")
    await one.attach(mine)
    await other.attach(theirs)
    await other.track(theirs, {"on": 2})
    await here.diff("joins", "other")
    await redis.restart()
    async with asyncio.timeout(30):  # the broker notices the restart at its next health check (5 s), then reconnects
        while True:
            _, _, _, name, payload = await here.frames.get()
            if name == "system":
                break
    assert payload["status"] == "error" and "broadcasts" in payload["message"]
    await here.diff("leaves", "other")  # forgotten ...
    await here.diff("joins", "other")  # ... and told again by its process
