"""``/realtime/v1/websocket``: Supabase Realtime's Phoenix socket, so supabase-js and realtime-py work unchanged.

The handshake is refused as Realtime refuses it: no ``apikey`` (query or header) is 401 ``API key is missing``,
a key that is neither the anon key nor a live user token is 401 with the reason, an unknown ``vsn`` is 400.
Each socket has a bounded send queue; a client that does not read is closed with 4008 (slow consumer), and a
frame that is no Phoenix message with 4000 (protocol error). Not served when ``SUPABASE_URL`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import CloseCode

from ..config import Settings
from ..realtime.phoenix import ProtocolError, Vsn
from ..realtime.session import Session
from ..realtime.tokens import TokenRefused
from ..state import app_state

logger = logging.getLogger(__name__)

PATH: Final = "/realtime/v1/websocket"


async def _refuse(websocket: WebSocket, status: int, error: str) -> None:
    await websocket.send_denial_response(JSONResponse({"error": error}, status))


async def realtime_socket(websocket: WebSocket) -> None:
    state = app_state(websocket)
    realtime, tokens = state["realtime"], state["realtime_tokens"]
    if realtime is None or tokens is None:
        await _refuse(websocket, 404, "Realtime is not served here")
        return
    apikey = websocket.query_params.get("apikey") or websocket.headers.get("apikey")
    if not apikey:
        await _refuse(websocket, 401, "API key is missing")
        return
    try:
        vsn = Vsn(websocket.query_params.get("vsn", Vsn.V1.value))
    except ValueError:
        await _refuse(websocket, 400, "unsupported serializer version (vsn): use 1.0.0 or 2.0.0")
        return
    try:
        await tokens.check(apikey)
    except TokenRefused as refused:
        await _refuse(websocket, 401, str(refused).split(": ", 1)[-1])
        return
    await websocket.accept()
    # Frames waiting for this socket (``WS_SEND_QUEUE``, as on /ws); more and it is closed (4008), not let grow.
    queue: asyncio.Queue[str | bytes] = asyncio.Queue(state["settings"].ws_send_queue)
    overflow = asyncio.Event()

    def outbox(frame: str | bytes) -> None:
        try:
            queue.put_nowait(frame)
        except asyncio.QueueFull:
            overflow.set()

    session = Session(realtime, tokens, vsn, apikey, outbox)
    sender = asyncio.create_task(_send(websocket, queue), name="realtime-send")
    watcher = asyncio.create_task(_watch(websocket, overflow, sender), name="realtime-overflow")
    try:
        while not sender.done():
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            frame = received.get("text")
            frame = frame if frame is not None else received.get("bytes")
            if frame is None:
                continue
            try:
                await session.receive(frame)
            except ProtocolError as exc:
                logger.info("realtime: closing a socket that sent a bad frame (%s)", exc)
                await _close(websocket, CloseCode.PROTOCOL_ERROR, f"not a Phoenix message: {exc}")
                break
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()
        for task in (watcher, sender):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                await task


async def _watch(websocket: WebSocket, overflow: asyncio.Event, sender: asyncio.Task[None]) -> None:
    """Close a socket whose send queue overflowed (its sender may be stuck writing to a client that does not read)."""
    await overflow.wait()
    sender.cancel()
    await _close(websocket, CloseCode.SLOW_CONSUMER, "send queue overflowed")


async def _send(websocket: WebSocket, queue: asyncio.Queue[str | bytes]) -> None:
    while True:
        frame = await queue.get()
        if isinstance(frame, bytes):
            await websocket.send_bytes(frame)
        else:
            await websocket.send_text(frame)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code, reason)


def routes(settings: Settings) -> list[BaseRoute]:
    """The Realtime socket, unless ``SUPABASE_URL`` is set (the front end then talks to Supabase's)."""
    return [] if settings.supabase_url is not None else [WebSocketRoute(PATH, realtime_socket)]
