"""The hub on its own (in-process broker, real uvicorn sockets): a user's frames reach every socket of theirs and
no one else's, a channel's frames only the sockets that joined it, and a closed socket is forgotten."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import NotificationFrame, room_stream
from server.broker import create_broker
from server.hub.connection import Connection, ConnectionState, TokenBucket
from server.hub.hub import Hub
from server.ws.transport import FRAME_WRITER

from ..utils import WsClient, run_server, ws_url

WAIT = 10.0


@dataclass(frozen=True)
class Caller:
    """Who a test socket speaks for (what the socket session sets after checking a token)."""

    user_id: uuid.UUID
    session_id: uuid.UUID | None = None


def socket_app(hub: Hub) -> Starlette:
    """``/ws?user=<uuid>&room=<id>``: register the socket as that user (joined to the room, if given), say
    ``registered``, and keep it until the client goes."""

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        writer = (websocket.scope.get("extensions") or {}).get(FRAME_WRITER)
        conn = Connection(websocket, limiter=TokenBucket(10, 10), writer=writer)
        conn.principal = Caller(uuid.UUID(websocket.query_params["user"]))
        await hub.register(conn)
        try:
            if room := websocket.query_params.get("room"):
                await hub.join_channel(room_stream(room), conn)
            await websocket.send_json({"type": "registered"})
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            await hub.unregister(conn)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub(create_broker(None))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def base_url(hub: Hub) -> AsyncIterator[str]:
    async with run_server(socket_app(hub)) as url:
        yield url


@contextlib.asynccontextmanager
async def socket(base_url: str, user: uuid.UUID, room: str | None = None) -> AsyncIterator[WsClient]:
    query = f"?user={user}" + (f"&room={room}" if room else "")
    async with websockets.connect(ws_url(base_url) + query, open_timeout=WAIT) as ws:
        client = WsClient(ws)
        assert (await client.recv(WAIT))["type"] == "registered"
        yield client


def note(event: str, **data: Any) -> NotificationFrame:
    return NotificationFrame(event=event, data=data)


async def test_a_users_frames_reach_every_socket_of_theirs_and_no_one_elses(hub: Hub, base_url: str) -> None:
    """Two tabs of one user both get the frame, in order after an earlier one; another user's tab gets only its own."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    async with socket(base_url, alice) as tab1, socket(base_url, alice) as tab2, socket(base_url, bob) as other:
        assert len(hub.connections(alice)) == 2
        await hub.send_to_user(alice, note("first"))
        await hub.send_to_user(alice, note("second", n=2))
        await hub.send_to_user(bob, note("for-bob"))
        for tab in (tab1, tab2):
            frames = [await tab.recv(WAIT), await tab.recv(WAIT)]
            assert [(f["event"], f["data"]) for f in frames] == [("first", {}), ("second", {"n": 2})]
        assert (await other.recv(WAIT))["event"] == "for-bob"


async def test_a_channel_frame_reaches_only_the_sockets_that_joined(hub: Hub, base_url: str) -> None:
    """A room's frame goes to the joined socket, not to another socket of the same user that did not join."""
    alice, room = uuid.uuid4(), str(uuid.uuid4())
    async with socket(base_url, alice, room=room) as joined, socket(base_url, alice) as elsewhere:
        await hub.send_to_channel(room_stream(room), note("in-room"))
        await hub.send_to_user(alice, note("to-user"))
        assert [(await joined.recv(WAIT))["event"], (await joined.recv(WAIT))["event"]] == ["in-room", "to-user"]
        assert (await elsewhere.recv(WAIT))["event"] == "to-user"  # the room's frame never came before it


async def test_a_closed_socket_is_forgotten(hub: Hub, base_url: str) -> None:
    """Once its last socket closes, the user has no connection and leaves the channels it joined."""
    alice, room = uuid.uuid4(), str(uuid.uuid4())
    async with socket(base_url, alice, room=room):
        assert len(hub.connections(alice)) == 1
        assert len(hub.channel_members(room_stream(room))) == 1
    async with asyncio.timeout(WAIT):
        while hub.connections(alice) or hub.channel_members(room_stream(room)):
            await asyncio.sleep(0.01)
    assert hub.connection_count == 0


async def test_a_connection_goes_only_forward() -> None:
    """authenticating -> open -> closed; a closed connection cannot open again (the transition names both ends)."""

    async def receive() -> dict[str, Any]:
        raise AssertionError("not read")

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("not written")

    websocket = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
    conn = Connection(websocket, limiter=TokenBucket(1, 1))
    assert conn.state is ConnectionState.AUTHENTICATING
    conn.transition(ConnectionState.OPEN)
    conn.transition(ConnectionState.CLOSED)
    with pytest.raises(RuntimeError, match="cannot go from closed to open"):
        conn.transition(ConnectionState.OPEN)


def test_a_token_bucket_allows_its_burst_then_refuses() -> None:
    """With no refill, a bucket of 3 lets exactly 3 frames through."""
    bucket = TokenBucket(rate=0, burst=3)
    assert [bucket.take() for _ in range(5)] == [True, True, True, False, False]
