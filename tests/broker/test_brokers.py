"""Both brokers behind one interface: delivery to subscribers only, across processes for Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from server.broker import Broker, create_broker


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest, shared_redis: str) -> AsyncIterator[Callable[[], Broker]]:
    """Brokers that share one bus: the same object for memory, separate connections for Redis."""
    redis_url = shared_redis if request.param == "redis" else None
    made: list[Broker] = []
    shared = create_broker(None)

    def make() -> Broker:
        broker = shared if redis_url is None else create_broker(redis_url)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.disconnect()


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_delivers_only_subscribed_channels(make_broker: Callable[[], Broker]) -> None:
    received: list[tuple[str, str]] = []
    broker = make_broker()
    await broker.connect(lambda channel, payload: received.append((channel, payload)))
    wanted, other = f"user:{uuid.uuid4()}", f"user:{uuid.uuid4()}"
    await broker.subscribe(wanted)
    await broker.publish(other, "not for us")
    await broker.publish(wanted, '{"type": "pong"}')
    await until(lambda: bool(received))
    await asyncio.sleep(0.05)
    assert received == [(wanted, '{"type": "pong"}')]
    await broker.unsubscribe(wanted)
    await broker.publish(wanted, "after unsubscribe")
    await asyncio.sleep(0.1)
    assert len(received) == 1


async def test_redis_fans_out_between_separate_brokers(shared_redis: str) -> None:
    """Two processes' brokers (separate connections) see each other's frames, in order."""
    node_a, node_b = create_broker(shared_redis), create_broker(shared_redis)
    got_a: list[str] = []
    got_b: list[str] = []
    await node_a.connect(lambda _c, p: got_a.append(p))
    await node_b.connect(lambda _c, p: got_b.append(p))
    channel = f"room:{uuid.uuid4()}"
    try:
        await node_a.subscribe(channel)
        await node_b.subscribe(channel)
        for n in range(50):
            await node_a.publish(channel, str(n))
        await until(lambda: len(got_a) == 50 and len(got_b) == 50)
        assert got_a == got_b == [str(n) for n in range(50)]
    finally:
        await node_a.disconnect()
        await node_b.disconnect()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="Unsupported broker"):
        create_broker("kafka://localhost")
