"""In-process rate limits: the moving window of ``limits``, counted without a task or a thread per hit."""

from __future__ import annotations

import asyncio
import threading

from server.ratelimit import RateLimiter, parse_rate

RATE = parse_rate("3/second")


async def test_the_window_allows_its_amount_then_waits_and_moves_on() -> None:
    """Three hits pass, the fourth is refused with a wait; other keys and rates count apart; a cleared key and, a
    second later, the window that moved on allow hits again."""
    limiter = RateLimiter()
    assert [await limiter.hit(RATE, "frames", "u1") for _ in range(3)] == [None, None, None]
    assert await limiter.hit(RATE, "frames", "u1") == 1.0
    assert await limiter.check(RATE, "frames", "u1") == 1.0
    assert await limiter.used(RATE, "frames", "u1") == 3
    assert await limiter.hit(RATE, "frames", "u2") is None
    assert await limiter.hit(parse_rate("4/second"), "frames", "u1") is None
    await limiter.clear(RATE, "frames", "u2")
    assert await limiter.used(RATE, "frames", "u2") == 0
    async with asyncio.timeout(5):
        while await limiter.check(RATE, "frames", "u1") is not None:
            await asyncio.sleep(0.05)
    assert await limiter.hit(RATE, "frames", "u1") is None
    assert await limiter.used(RATE, "frames", "u1") == 1


def test_counting_starts_no_task_and_no_thread() -> None:
    """Thousands of hits over hundreds of keys leave no task behind and start no thread (``limits``' memory
    storage started a sweep on nearly every hit, handing every key to a thread)."""

    async def hits() -> tuple[int, int]:
        before = {thread.ident for thread in threading.enumerate()}
        limiter = RateLimiter()
        for n in range(2_000):
            await limiter.hit(RATE, "frames", f"user-{n % 500}")
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)
        started = [thread for thread in threading.enumerate() if thread.ident not in before]
        return len(asyncio.all_tasks()) - 1, len(started)

    assert asyncio.run(hits()) == (0, 0)
