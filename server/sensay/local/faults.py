"""Faults the local replica injects into its next chat requests, for tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal, NamedTuple

from starlette.types import Receive, Scope, Send


class Fault(NamedTuple):
    """What happens to one chat request instead of a plain answer."""

    kind: Literal["status", "cut", "hang", "lost", "slow"]
    status: int = 500
    after_words: int = 0
    retry_after: float | None = None
    error_code: str = "INJECTED_FAILURE"
    delay: float = 0.0


class Faults:
    """The queue of faults for the next chat requests, and the event that ends hanging ones."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._release = asyncio.Event()

    def add(self, fault: Fault, n: int) -> None:
        """Inject ``fault`` into the next ``n`` chat requests (after those already queued)."""
        if fault.kind == "hang" and self._release.is_set():
            self._release = asyncio.Event()
        self._queue.extend([fault] * n)

    def next(self) -> Fault | None:
        """The fault of the chat request arriving now, if any."""
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        """Forget pending faults."""
        self._queue.clear()

    def release(self) -> None:
        """Let hanging requests end."""
        self._release.set()

    def hang(self) -> Hang:
        """The response of a request told to hang."""
        return Hang(self._release)


class Hang:
    """An ASGI response that never starts: it ends when the client hangs up or the replica releases it."""

    def __init__(self, release: asyncio.Event) -> None:
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = {asyncio.ensure_future(disconnected()), asyncio.ensure_future(self._release.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
