"""Moving-window counts kept in this process, for a hub without Redis.

``limits``' asyncio memory storage schedules an expiry sweep on nearly every hit, and the sweep visits every key
and hands each to a thread (``asyncio.to_thread``): with many users that cost 4–15% of the hub's CPU under a
room-message load. Here a key keeps at most its rate's ``amount`` newest hit times (older ones cannot decide
anything), expired ones are dropped when the key is used, and keys nobody used for a whole window are dropped by
a sweep at most every :data:`SWEEP_SECONDS`, in the hit that notices it is due: no task, no thread.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Final, NamedTuple

from limits import RateLimitItem

SWEEP_SECONDS: Final = 10.0


class Window(NamedTuple):
    """When the oldest hit in the window leaves it (epoch seconds), and how many more hits the rate allows."""

    reset_time: float
    remaining: int


class LocalWindows:
    """The moving-window strategy of ``limits`` (same answers for ``hit``, ``test``, window stats and ``clear``),
    kept in a dict."""

    def __init__(self) -> None:
        self._hits: dict[str, tuple[float, deque[float]]] = {}  # key → (window seconds, newest hit times)
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    def hit(self, rate: RateLimitItem, *key: str) -> bool:
        """Count one hit for ``key`` if ``rate`` allows it; whether it did."""
        now = time.time()
        times = self._times(rate, key, now)
        if len(times) >= rate.amount:
            return False
        times.append(now)
        return True

    def test(self, rate: RateLimitItem, *key: str) -> bool:
        """Whether one more hit for ``key`` would be within ``rate`` (nothing counted)."""
        return len(self._times(rate, key, time.time())) < rate.amount

    def window(self, rate: RateLimitItem, *key: str) -> Window:
        now = time.time()
        times = self._times(rate, key, now)
        oldest = times[0] if times else now
        return Window(oldest + rate.get_expiry(), max(0, rate.amount - len(times)))

    def clear(self, rate: RateLimitItem, *key: str) -> None:
        self._hits.pop(rate.key_for(*key), None)

    def _times(self, rate: RateLimitItem, key: tuple[str, ...], now: float) -> deque[float]:
        self._sweep_if_due(now)
        name = rate.key_for(*key)
        expiry = rate.get_expiry()
        found = self._hits.get(name)
        if found is None:
            times: deque[float] = deque(maxlen=rate.amount)
            self._hits[name] = (expiry, times)
            return times
        times = found[1]
        while times and times[0] <= now - expiry:
            times.popleft()
        return times

    def _sweep_if_due(self, now: float) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        idle = [name for name, (expiry, times) in self._hits.items() if not times or times[-1] <= now - expiry]
        for name in idle:
            del self._hits[name]
