"""Fewer ``reply.delta`` frames per reply: the first piece at once, then what streamed since, at most one frame per
interval (or sooner once many characters wait), and the rest before the reply is shown.

Sensay streams a reply a word or so at a time; a frame per word costs the hub an encode, a publish and a send per
member for text nobody reads faster than a few times a second. Each frame carries the text to append, numbered
from 0 per reply, so a client that appends deltas in ``index`` order sees the same text as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import Final, Self

from ..logs import log_task_failure

logger = logging.getLogger(__name__)

ROOM_DELTA_INTERVAL: Final = 0.2
"""Seconds between the delta frames of a reply to a room: each goes to every member (5,000 writes in a room of
5,000), and people reading along in a room need no more than a few updates a second."""

MAX_CHARS: Final = 1000
"""Characters waiting that are sent without waiting for the interval."""

SendDelta = Callable[[int, str], Awaitable[None]]
"""Sends the ``index``-th delta frame of a reply with its text."""


class DeltaCoalescer:
    """Collects a reply's streamed pieces into delta frames (``interval`` 0: a frame per piece).

    Use as ``async with``: leaving the block normally sends what is left (before the caller shows the reply);
    leaving it on an error drops it (the failure is shown instead).
    """

    __slots__ = ("_send", "_interval", "_waiting", "_chars", "_index", "_last", "_timer", "_lock")

    def __init__(self, send: SendDelta, interval: float) -> None:
        self._send = send
        self._interval = interval
        self._waiting: list[str] = []
        self._chars = 0
        self._index = 0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()  # frames go out in index order, also when a timer's flush overlaps

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._cancel_timer()
        if kind is None:
            await self._flush()
            async with self._lock:  # a flush under way finishes before the caller's next frame
                pass

    async def add(self, text: str) -> None:
        """One more streamed piece: sent now (the first, or once the interval has passed or enough waits)."""
        if not text:
            return
        self._waiting.append(text)
        self._chars += len(text)
        now = asyncio.get_running_loop().time()
        if self._index == 0 or self._chars >= MAX_CHARS or now >= self._last + self._interval:
            self._cancel_timer()
            await self._flush()
        elif self._timer is None:  # the stream may pause: what waits goes out when the interval ends anyway
            self._timer = asyncio.get_running_loop().call_at(self._last + self._interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._flush())
        task.add_done_callback(partial(log_task_failure, logger))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _flush(self) -> None:
        if not self._waiting:
            return
        text = "".join(self._waiting)
        self._waiting.clear()
        self._chars = 0
        index, self._index = self._index, self._index + 1
        self._last = asyncio.get_running_loop().time()
        async with self._lock:
            await self._send(index, text)
