"""The ``/ws`` endpoint: handshake checks, then the socket's protocol session."""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import urlsplit

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import FRAME_BURST, FRAME_RATE, TOKEN_QUERY_PARAM, WS_PATH, CloseCode, parse_subprotocols

from .. import logs, metrics
from ..hub.connection import Connection, TokenBucket
from ..state import app_state
from .session import SocketSession
from .transport import FRAME_WRITER

logger = logging.getLogger(__name__)

POLICY_VIOLATION: Final = 1008


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send ``Origin``; other clients may not, and are checked by their token alone.

    A page the hub serves itself (``/demo``) is always allowed: its origin names the host it connects to.
    """
    if origin is None or "*" in allowed or origin.rstrip("/") in allowed:
        return True
    return host is not None and urlsplit(origin).netloc == host


async def websocket_endpoint(websocket: WebSocket) -> None:
    state = app_state(websocket)
    settings, hub = state["settings"], state["hub"]
    headers = websocket.headers
    if not hub.accepting or not origin_allowed(headers.get("origin"), headers.get("host"), settings.allowed_origins):
        await websocket.close(POLICY_VIOLATION if hub.accepting else CloseCode.SERVICE_RESTART)
        return  # closing before accept answers the handshake with HTTP 403
    offered = parse_subprotocols(websocket.scope.get("subprotocols", ()))
    token = websocket.query_params.get(TOKEN_QUERY_PARAM) or offered.token
    await websocket.accept(subprotocol=offered.selected)
    address = websocket.client.host if websocket.client is not None else "unknown"
    if not hub.admit(address, settings.ws_max_sockets_per_address):
        metrics.CLOSES.labels("too_many_sockets").inc()
        limit = settings.ws_max_sockets_per_address
        await websocket.close(CloseCode.TOO_MANY_CONNECTIONS, f"at most {limit} sockets per client address")
        return
    writer = (websocket.scope.get("extensions") or {}).get(FRAME_WRITER)  # our uvicorn protocol's direct writes
    conn = Connection(
        websocket, max_queue=settings.ws_send_queue, limiter=TokenBucket(FRAME_RATE, FRAME_BURST), writer=writer
    )
    session = SocketSession(conn, state)
    # The handshake's headers were read above; an idle socket need not keep them (nor Starlette's view of them).
    del websocket.scope["headers"][:]
    logs.bind(connection_id=conn.id)  # this task serves only this socket
    try:
        if await session.authenticate(token):
            logs.bind(user_id=str(conn.user_id))
            logger.debug("socket authenticated")
            await session.run()
    except WebSocketDisconnect:
        pass
    finally:
        hub.release(address)
        await hub.unregister(conn)


routes = [WebSocketRoute(WS_PATH, websocket_endpoint)]
