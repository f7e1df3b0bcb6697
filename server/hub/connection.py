"""One authenticated WebSocket: its lifecycle, its bounded send queue and its inbound rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import CloseCode

from .. import metrics
from ..auth.tokens import Principal

logger = logging.getLogger(__name__)

DEFAULT_SEND_QUEUE = 1024
"""Frames a socket may have waiting before it counts as a slow consumer."""


class ConnectionState(enum.Enum):
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSED = "closed"


_TRANSITIONS = {
    ConnectionState.AUTHENTICATING: {ConnectionState.OPEN, ConnectionState.CLOSED},
    ConnectionState.OPEN: {ConnectionState.CLOSED},
    ConnectionState.CLOSED: set(),
}


class TokenBucket:
    """Inbound frame budget: ``rate`` frames a second with bursts up to ``burst``.

    Hand-written because the check must be synchronous and per-socket (a few bytes of state);
    the rate-limit libraries on PyPI are awaitable or keyed stores.
    """

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    """A socket of one user. Frames are queued as already-encoded text and written by a sender task
    that exists only while the queue is non-empty, so an idle socket costs no task."""

    __slots__ = (
        "id",
        "websocket",
        "principal",
        "state",
        "max_queue",
        "_queue",
        "_sender",
        "_closing",
        "rooms",
        "limiter",
        "flood",
        "expiry",
        "opened_at",
    )

    def __init__(self, websocket: WebSocket, *, max_queue: int = DEFAULT_SEND_QUEUE, limiter: TokenBucket) -> None:
        self.id = uuid.uuid4().hex
        self.websocket = websocket
        self.principal: Principal | None = None
        self.state = ConnectionState.AUTHENTICATING
        self.max_queue = max_queue
        self._queue: deque[str] | None = None  # made on first use: an idle socket has none
        self._sender: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.rooms: set[str] = set()
        self.limiter = limiter
        self.flood: TokenBucket | None = None
        """Budget of frames dropped by ``limiter``, made on the first drop (see ``protocol.FLOOD_LIMIT``)."""
        self.expiry: asyncio.TimerHandle | None = None
        self.opened_at = time.time()
        metrics.CONNECTIONS.labels(self.state.value).inc()

    @property
    def user_id(self) -> uuid.UUID:
        assert self.principal is not None, "connection is not authenticated"
        return self.principal.user_id

    def transition(self, new: ConnectionState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"connection {self.id}: cannot go from {self.state.value} to {new.value}")
        metrics.CONNECTIONS.labels(self.state.value).dec()
        if new is not ConnectionState.CLOSED:
            metrics.CONNECTIONS.labels(new.value).inc()
        self.state = new

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue) if self._queue is not None else 0

    def send(self, text: str) -> None:
        """Queue an encoded frame. A socket whose queue is full is closed as a slow consumer."""
        if self.state is ConnectionState.CLOSED or self._closing is not None:
            return
        if self._queue is None:
            self._queue = deque()
        elif len(self._queue) >= self.max_queue:
            self._queue = None
            metrics.CLOSES.labels("slow_consumer").inc()
            self.close(CloseCode.SLOW_CONSUMER, "send queue overflow: reconnect and resume")
            return
        self._queue.append(text)
        if self._sender is None:
            self._sender = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                text = self._queue.popleft()
                await self.websocket.send_text(text)
                metrics.FRAMES_SENT.labels(metrics.frame_type(text)).inc()
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the peer is gone; the receive loop notices and unregisters the connection
        finally:
            self._queue = None
            self._sender = None

    def close(self, code: int, reason: str = "") -> None:
        """Close the socket in the background; later calls are ignored."""
        if self._closing is not None or self.state is ConnectionState.CLOSED:
            return
        self._closing = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._sender is not None:
            # A sender stuck on a peer that does not read must not delay the close frame.
            self._sender.cancel()
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    async def closed(self) -> None:
        """Wait for a close started by :meth:`close` to finish."""
        if self._closing is not None:
            with contextlib.suppress(Exception):
                await self._closing
