"""One authenticated WebSocket: its lifecycle, its writes (bounded queue under push-back) and its inbound rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import time
import uuid
from collections import deque
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.frames import OP_TEXT, Frame

from protocol import CloseCode

from .. import metrics

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


class Bearer(Protocol):
    """Who a socket speaks for, as the hub needs it (the session's verified token, ``server.auth.tokens.Principal``:
    delivery does not depend on how tokens are verified)."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def session_id(self) -> uuid.UUID | None: ...


class FrameWriter(Protocol):
    """Writes ready-made frames straight to one socket's transport (see ``server.ws.transport``)."""

    def write_frames(self, data: bytes) -> bool:
        """Write ``data`` (whole frames) now; ``False`` when the socket takes no more frames (closing or gone)."""
        ...

    def paused(self) -> bool:
        """The transport's buffer is over its high-water mark: queue frames and await :meth:`drained`."""
        ...

    async def drained(self) -> None:
        """Return once the transport takes frames again (or the socket is gone)."""
        ...


class Outgoing:
    """One encoded frame on its way to one socket or to a whole room: framed for the wire at most once."""

    __slots__ = ("text", "_framed")

    def __init__(self, text: str) -> None:
        self.text = text
        self._framed: bytes | None = None

    @property
    def framed(self) -> bytes:
        if self._framed is None:
            self._framed = Frame(OP_TEXT, self.text.encode()).serialize(mask=False)
        return self._framed


class Connection:
    """A socket of one user.

    With a :class:`FrameWriter` (our uvicorn protocol) a frame is written to the transport at once, no task and
    no copy per socket; only while the transport is paused do frames wait in a queue, written by a drain task in
    one write when it resumes. Without one (another ASGI server) a sender task writes the queue through ASGI.
    Either way an idle socket holds no queue and no task, and a full queue closes the socket as a slow consumer.
    """

    __slots__ = (
        "id",
        "websocket",
        "writer",
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
        "seen",
    )

    def __init__(
        self,
        websocket: WebSocket,
        *,
        max_queue: int = DEFAULT_SEND_QUEUE,
        limiter: TokenBucket,
        writer: FrameWriter | None = None,
    ) -> None:
        self.id = secrets.token_hex(16)  # 32 hex digits like uuid4().hex, at a third of its cost
        self.websocket = websocket
        self.writer = writer
        self.principal: Bearer | None = None
        self.state = ConnectionState.AUTHENTICATING
        self.max_queue = max_queue
        self._queue: deque[Outgoing] | None = None  # made when the transport pushes back: an idle socket has none
        self._sender: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.rooms: set[str] = set()
        self.limiter = limiter
        self.flood: TokenBucket | None = None
        """Budget of frames dropped by ``limiter``, made on the first drop (see ``protocol.FLOOD_LIMIT``)."""
        self.expiry: asyncio.TimerHandle | None = None
        self.opened_at = time.time()
        self.seen: dict[str, int] = {}
        """Per stream, the highest seq sent to this socket in order: through the broker or by a replay (not a
        publish that reached this process only). What a ``resync`` tells the client to resume from."""
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

    def got(self, stream: str, seq: int) -> None:
        """The socket was sent every message of ``stream`` up to ``seq`` (a replay)."""
        if self.seen.get(stream, 0) < seq:
            self.seen[stream] = seq

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue) if self._queue is not None else 0

    def send(self, text: str) -> None:
        """Send an encoded frame to this socket alone."""
        if self.send_frame(Outgoing(text)):
            metrics.FRAMES_SENT.labels(metrics.frame_type(text)).inc()

    def send_frame(self, frame: Outgoing) -> bool:
        """Write the frame, or queue it while the transport pushes back; ``False`` if the socket will not get it.

        A socket whose queue is full is closed as a slow consumer. The caller counts the frames sent.
        """
        if self.state is ConnectionState.CLOSED or self._closing is not None:
            return False
        queue = self._queue
        if queue is None:
            writer = self.writer
            if writer is not None and not writer.paused():
                return writer.write_frames(frame.framed)
            queue = self._queue = deque()
        elif len(queue) >= self.max_queue:
            self._queue = None
            metrics.CLOSES.labels("slow_consumer").inc()
            self.close(CloseCode.SLOW_CONSUMER, "send queue overflow: reconnect and resume")
            return False
        queue.append(frame)
        if self._sender is None:
            self._sender = asyncio.create_task(self._drain())
        return True

    async def _drain(self) -> None:
        try:
            if self.writer is not None:
                await self._drain_to(self.writer)
            else:
                while self._queue:
                    await self.websocket.send_text(self._queue.popleft().text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the peer is gone; the receive loop notices and unregisters the connection
        finally:
            self._queue = None
            self._sender = None

    async def _drain_to(self, writer: FrameWriter) -> None:
        """Wait out the push-back, then write everything queued meanwhile at once."""
        while self._queue:
            await writer.drained()
            queue = self._queue
            if not queue:
                return  # dropped meanwhile: the socket is closing as a slow consumer
            self._queue = deque()
            if not writer.write_frames(b"".join(frame.framed for frame in queue)):
                return

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
