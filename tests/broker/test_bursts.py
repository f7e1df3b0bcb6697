"""A burst of more concurrent Redis calls than a connection pool holds waits for a connection; it is not an outage.

redis-py's default asyncio pool refuses the 101st concurrent call at once ("Too many connections"): the broker
took that for an outage (every socket told to resync) and the rate limiter let the whole burst through.
"""

from __future__ import annotations

import asyncio
import uuid

from limits import parse

from server.broker.redis import POOL_SIZE
from server.ratelimit import RateLimiter

from ..services import PrivateRedis
from .test_gaps import Node, until

BURST = 3 * POOL_SIZE


async def test_a_burst_of_publishes_is_delivered_without_a_gap(redis: PrivateRedis) -> None:
    channel = f"room:{uuid.uuid4()}"
    async with Node(redis.url) as sender, Node(redis.url) as watcher:
        await watcher.broker.subscribe(channel)
        await asyncio.gather(*(sender.broker.publish(channel, str(i)) for i in range(BURST)))
        await until(lambda: len(watcher.frames) == BURST)
        assert sorted(int(p) for _, p in watcher.frames) == list(range(BURST))
        assert sender.broker.publishing, "no publish failed"
        assert watcher.gaps == [] and sender.gaps == [], "no resync for a burst"


async def test_a_burst_of_hits_is_counted_not_let_through(redis: PrivateRedis) -> None:
    limiter = RateLimiter(redis.url, prefix=f"test-{uuid.uuid4().hex}")
    try:
        allowed = BURST - 50
        answers = await asyncio.gather(*(limiter.hit(parse(f"{allowed}/minute"), "burst") for _ in range(BURST)))
    finally:
        await limiter.aclose()
    assert sum(a is None for a in answers) == allowed
    assert sum(a is not None for a in answers) == 50
