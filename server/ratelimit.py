"""Rate limits that hold across processes: counts in memory, or in Redis when ``REDIS_URL`` is set.

Built on the ``limits`` library (moving windows; in Redis, atomic Lua scripts run through redis-py's asyncio
client); in memory counted by :class:`~server.ratelimit_local.LocalWindows` (the same strategy, without the
expiry task of ``limits``' memory storage). A rate is written as ``limits`` parses it, e.g. ``"30/5minutes"`` or
``"20 per second"``. A limiter whose store fails lets requests through and logs why: a Redis outage must not lock
every user out.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import BlockingConnectionPool, ConnectionPool

from .ratelimit_local import LocalWindows

logger = logging.getLogger(__name__)

__all__ = ["RateLimitItem", "RateLimiter", "parse_rate", "parsed_rate"]


def parse_rate(text: str) -> RateLimitItem:
    """``"30/5minutes"`` → a rate; ``ValueError`` when ``limits`` cannot read it."""
    return parse(text)


@functools.lru_cache(maxsize=32)
def parsed_rate(text: str) -> RateLimitItem:
    """:func:`parse_rate` remembered: for a rate read from the settings on every request or frame."""
    return parse(text)


class RateLimiter:
    """Counts requests per (rate, key) in a moving window.

    ``redis_url`` shares the counts between every process using the same Redis; ``prefix`` keeps them apart from
    other deployments (or test runs) on that Redis.
    """

    def __init__(self, redis_url: str | None = None, *, prefix: str = "sensay-hub") -> None:
        self._pool: ConnectionPool | None = None
        self._local: LocalWindows | None = None
        self._limiter: MovingWindowRateLimiter | None = None
        if redis_url is None:
            self._local = LocalWindows()
        else:
            # Blocking: a burst of more hits than the pool's connections waits for one instead of failing (and
            # so letting every request of the burst through).
            self._pool = BlockingConnectionPool.from_url(
                redis_url, max_connections=100, timeout=2.0, socket_connect_timeout=2.0, socket_timeout=2.0
            )
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=f"{prefix}:ratelimit",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # ours, closed at shutdown; limits types options narrowly
            )
            self._limiter = MovingWindowRateLimiter(storage)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, rate: RateLimitItem, *key: str) -> float | None:
        """Count one request for ``key``: ``None`` when within ``rate``, else the seconds until one would be."""
        if self._local is not None:
            return None if self._local.hit(rate, *key) else _wait(self._local.window(rate, *key).reset_time)
        assert self._limiter is not None
        return await self._ask(self._limiter.hit, rate, key)

    async def check(self, rate: RateLimitItem, *key: str) -> float | None:
        """Like :meth:`hit` without counting: ``None`` while one more request would be within ``rate``."""
        if self._local is not None:
            return None if self._local.test(rate, *key) else _wait(self._local.window(rate, *key).reset_time)
        assert self._limiter is not None
        return await self._ask(self._limiter.test, rate, key)

    async def used(self, rate: RateLimitItem, *key: str) -> int:
        """How many requests ``key`` has counted within ``rate``'s window now (0 when the store fails)."""
        if self._local is not None:
            return rate.amount - self._local.window(rate, *key).remaining
        assert self._limiter is not None
        try:
            stats = await self._limiter.get_window_stats(rate, *key)
        except StorageError as exc:
            logger.warning("rate limit store failed; counting nothing: %s", exc)
            return 0
        return max(0, rate.amount - stats.remaining)

    async def clear(self, rate: RateLimitItem, *key: str) -> None:
        """Forget every request ``key`` counted within ``rate``."""
        if self._local is not None:
            self._local.clear(rate, *key)
            return
        assert self._limiter is not None
        try:
            await self._limiter.clear(rate, *key)
        except StorageError as exc:
            logger.warning("rate limit store failed; the count stays: %s", exc)

    async def _ask(
        self, allowed: Callable[..., Awaitable[bool]], rate: RateLimitItem, key: tuple[str, ...]
    ) -> float | None:
        try:
            if await allowed(rate, *key):
                return None
            return await self._retry_after(rate, *key)
        except StorageError as exc:
            logger.warning("rate limit store failed; letting the request through: %s", exc)
            return None

    async def _retry_after(self, rate: RateLimitItem, *key: str) -> float:
        assert self._limiter is not None
        stats = await self._limiter.get_window_stats(rate, *key)
        return _wait(stats.reset_time)


def _wait(reset_time: float) -> float:
    """Whole seconds (at least one) until ``reset_time`` (epoch seconds)."""
    return max(1.0, math.ceil(reset_time - time.time()))
