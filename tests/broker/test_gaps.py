"""The Redis broker tells of its gaps: a restart of Redis, and publishes that failed while it was down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.broker import Gap
from server.broker.redis import PUBLISH_FAILED, RECONNECTED, RedisBroker

from ..services import PrivateRedis

GAP_WAIT = 30.0
"""Generous: redis-py and the broker back off up to a couple of seconds between attempts."""


class Node:
    """One process's broker, with what its listeners received."""

    def __init__(self, url: str) -> None:
        self.broker = RedisBroker(url)
        self.frames: list[tuple[str, str]] = []
        self.here_only: list[tuple[str, str]] = []
        """Frames of this process's own failed publishes (delivered to its own sockets only)."""
        self.gaps: list[tuple[frozenset[str], str]] = []
        self.lost_from: list[dict[str, dict[str, int]]] = []

    def _gap(self, gap: Gap) -> None:
        self.gaps.append((gap.channels, gap.reason))
        self.lost_from.append({channel: dict(lost) for channel, lost in gap.lost_from.items()})

    def _here_only(self, channel: str, payload: str) -> None:
        self.frames.append((channel, payload))
        self.here_only.append((channel, payload))

    async def __aenter__(self) -> Node:
        await self.broker.connect(lambda c, p: self.frames.append((c, p)), self._gap, local_listener=self._here_only)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.broker.disconnect()


async def until(condition: Callable[[], bool], timeout: float = GAP_WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def until_delivered(sender: Node, receiver: Node, channel: str) -> None:
    """Publish on ``channel`` until ``receiver`` gets it: its subscription may still be on its way to Redis."""
    async with asyncio.timeout(GAP_WAIT):
        while (channel, "hello") not in receiver.frames:
            await sender.broker.publish(channel, "hello")
            await asyncio.sleep(0.1)


async def test_a_restart_reports_every_subscribed_channel_once_redis_is_back(redis: PrivateRedis) -> None:
    room, user, dropped = f"room:{uuid.uuid4()}", f"user:{uuid.uuid4()}", f"user:{uuid.uuid4()}"
    async with Node(redis.url) as node:
        for channel in (room, user, dropped):
            await node.broker.subscribe(channel)
        await node.broker.unsubscribe(dropped)
        await redis.restart()
        await until(lambda: bool(node.gaps))
        assert node.gaps[0] == (frozenset({room, user}), RECONNECTED)

        # Subscribed again: frames flow as before.
        await node.broker.publish(room, "after")
        await until(lambda: (room, "after") in node.frames)


async def test_a_channel_subscribed_during_an_outage_is_subscribed_and_resynced_once_redis_is_back(
    redis: PrivateRedis,
) -> None:
    early, late = f"user:{uuid.uuid4()}", f"room:{uuid.uuid4()}"
    async with Node(redis.url) as node, Node(redis.url) as other:
        await node.broker.subscribe(early)
        await redis.stop()
        await node.broker.subscribe(late)  # returns without raising: deferred to the reconnect
        await redis.start()
        await until(lambda: bool(node.gaps))
        assert node.gaps[0] == (frozenset({early, late}), RECONNECTED)

        await until_delivered(other, node, late)


async def test_a_publish_during_an_outage_reaches_local_sockets_and_the_others_resync(redis: PrivateRedis) -> None:
    room = f"room:{uuid.uuid4()}"
    async with Node(redis.url) as sender, Node(redis.url) as watcher:
        await sender.broker.subscribe(room)
        await watcher.broker.subscribe(room)
        await redis.stop()
        await sender.broker.publish(room, "during", position=(room, 7))  # not raised: retried, then a gap
        assert sender.here_only == [(room, "during")], "the sender's own subscribers get it without Redis"
        assert not sender.broker.publishing
        await sender.broker.publish(room, "during, too", position=(room, 8))  # skips Redis while it is down
        assert sender.here_only[-1] == (room, "during, too")

        await redis.start()
        # The watcher hears of the gap by its own reconnect, or by the sender's notice if that came later.
        await until(lambda: any(room in channels for channels, _ in watcher.gaps))
        await until(lambda: sender.broker.publishing)
        assert (room, "during") not in watcher.frames, "the frame itself is gone: the resync stands for it"

        await sender.broker.publish(room, "after")
        await until(lambda: (room, "after") in watcher.frames)


async def test_a_publish_that_fails_while_subscriptions_hold_is_announced_to_the_other_processes(
    redis: PrivateRedis,
) -> None:
    """Only the publisher's side fails (Redis pauses writes): the watcher keeps its subscription and learns of the
    lost frame from the sender's gap notice."""
    room = f"room:{uuid.uuid4()}"
    impatient = Redis.from_url(redis.url, decode_responses=True, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    admin = Redis.from_url(redis.url)
    sender = RedisBroker(client=impatient)
    await sender.connect(lambda _c, _p: None)
    try:
        async with Node(redis.url) as watcher:
            await watcher.broker.subscribe(room)
            await admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")  # PUBLISH waits; reads and pings do not
            await sender.publish(room, "paused", position=(room, 12))
            await sender.publish(room, "paused, too", position=(room, 13))
            assert not sender.publishing
            await until(lambda: bool(watcher.gaps))
            assert watcher.gaps == [(frozenset({room}), PUBLISH_FAILED)]
            assert watcher.lost_from == [{room: {room: 12}}], "the notice names the first seq lost"
            await until(lambda: sender.publishing)
    finally:
        await sender.disconnect()
        await admin.aclose()


async def test_a_command_published_during_an_outage_arrives_once_redis_is_back(redis: PrivateRedis) -> None:
    control = f"control:{uuid.uuid4()}"
    async with Node(redis.url) as sender, Node(redis.url) as watcher:
        await watcher.broker.subscribe(control)
        await redis.stop()
        await sender.broker.publish(control, "close session 1", must_arrive=True)
        await sender.broker.publish(control, "close session 2", must_arrive=True)
        await redis.start()
        await until(lambda: [p for c, p in watcher.frames if c == control] == ["close session 1", "close session 2"])
        await until(lambda: sender.broker.publishing)
        assert all(control not in channels for channels, _ in watcher.gaps if _ == PUBLISH_FAILED), "kept, not gapped"


def fail_once(target: object, method: str, error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make redis-py's ``target.method`` raise ``error`` once, as its pubsub does when two tasks use its connection
    while it reconnects (seen: ``AttributeError`` on a writer another task's reconnect had just closed)."""
    real = getattr(target, method)

    async def failing(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(target, method, real)
        raise error

    monkeypatch.setattr(target, method, failing)


async def test_a_subscribe_that_fails_unexpectedly_is_retried_and_resynced(
    redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = f"room:{uuid.uuid4()}"
    async with Node(redis.url) as node, Node(redis.url) as other:
        closed = AttributeError("'NoneType' object has no attribute 'writelines'")
        fail_once(node.broker._pubsub.connection, "send_command", closed, monkeypatch)
        await node.broker.subscribe(room)  # not raised: the hub would keep a channel nobody subscribed
        await until(lambda: any(room in channels for channels, _ in node.gaps))
        assert node.gaps == [(frozenset({room}), RECONNECTED)], "frames sent meanwhile may be gone: resync"

        await until_delivered(other, node, room)


async def test_a_read_that_fails_unexpectedly_reconnects_and_resyncs(
    redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = f"room:{uuid.uuid4()}"
    async with Node(redis.url) as node, Node(redis.url) as other:
        await node.broker.subscribe(room)
        fail_once(node.broker._pubsub.connection, "read_response", RuntimeError("read twice at once"), monkeypatch)
        await until(lambda: bool(node.gaps))
        assert node.gaps == [(frozenset({room}), RECONNECTED)]

        await other.broker.publish(room, "after")
        await until(lambda: (room, "after") in node.frames)
