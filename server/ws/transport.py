"""uvicorn's WebSocket protocol (websockets' Sans-I/O) with a direct frame writer for the hub, and less per socket.

The hub frames each fan-out once and hands the same bytes to every member; going through ASGI ``send`` would
encode and frame the text again for every socket and await per frame. :class:`HubWebSocketProtocol` offers the
socket's frame writer to the app in the scope's extensions (``FRAME_WRITER``): everything else —
handshake, proxy headers, keepalive pings, the close handshake, read flow control — stays uvicorn's.

It also trims what an idle socket holds: the handshake's request and response are dropped once accepted, the
lifespan state is shared rather than copied into each socket's scope, and
the per-socket ``asyncio.Queue`` and ``Event`` (four deques between them) become a deque made on first use and
an event whose waiter exists only while someone waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Final

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from .. import metrics

logger = logging.getLogger(__name__)

INVALID_DATA: Final = 1007
FRAME_WRITER: Final = "sensay.frame_writer"
"""Scope extension holding the socket's :class:`~server.hub.connection.FrameWriter` (absent under other servers)."""


class _Flag:
    """``asyncio.Event`` without its deque: the future exists only while a sender waits (rarely, on one socket)."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_result(None)
            self._waiter = None

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._waiter)  # several waiters share one future; one cancelled leaves it be


class _Inbox:
    """What uvicorn uses of ``asyncio.Queue`` (one reader: the app's ``receive``), lazily allocated."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[ASGIReceiveEvent] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item


def _peer(client: tuple[str, int] | None) -> str:
    return client[0] if client else "unknown"


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """Pass as ``uvicorn.run(..., ws=HubWebSocketProtocol)``; it is each socket's ``FrameWriter``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FRAME_WRITER] = self
            scope["state"] = self.app_state  # shared, not a copy per socket: the app only reads it
        # The app has the headers in the scope; websockets' parsed request is not read again, but its parser's
        # frame keeps a reference to it for the socket's life: empty it.
        event.headers.clear()
        del self.request

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and hasattr(self, "response"):
            del self.response  # sent (accepted or refused) and not read again: free its headers

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, except that a text frame of invalid UTF-8 is a client's error: counted, closed with 1007 and
        logged in one line, where uvicorn logs an ERROR with a traceback (for anyone, authenticated or not)."""
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            metrics.FRAMES_RECEIVED.labels("invalid").inc()
            client = getattr(self, "scope", {}).get("client") or self.client  # the app resolved it behind proxies
            logger.info("socket from %s closed: a text frame is not UTF-8 (%s)", _peer(client), exc.reason)
            self.conn.send_close(INVALID_DATA, "text frames must be UTF-8")
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def paused(self) -> bool:
        return not self.writable.is_set()

    async def drained(self) -> None:
        await self.writable.wait()

    def write_frames(self, data: bytes) -> bool:
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(data)
        return True
