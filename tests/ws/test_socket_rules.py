"""The socket's rules: authentication, origin, bad frames, limits; a bad neighbour never hurts the others."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import httpx
import jwt
import pytest
import websockets

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import TEST_JWT_SECRET, bearer
from ..utils import WsClient, connect, run_server, sample, scrape, stalled_socket, ws_url

ALICE = {"email": "alice@example.com", "password": "correct horse battery"}


async def assert_still_works(client: WsClient) -> None:
    await client.send({"type": "ping", "id": "alive?"})
    assert await client.recv() == {"type": "pong", "id": "alive?"}


async def test_hello_describes_the_connection(server: str, alice: dict) -> None:
    async with websockets.connect(ws_url(server)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": alice["access_token"]}))
        hello = json.loads(await ws.recv())
    assert hello["type"] == "hello" and hello["protocol"] == 2
    assert hello["user_id"] == alice["user"]["id"] and hello["max_frame_bytes"] == 64 * 1024


async def test_every_answer_to_a_request_carries_its_id(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    """hello answers auth, room.presence answers room.join, resumed answers resume: each with the request's id, as
    ack and pong do, so a client matches answers to requests by id alone; a token given at the handshake has none."""
    room = await http.post(
        "/api/rooms", json={"name": "ids", "replica_ids": [ADA_LOVELACE_UUID]}, headers=bearer(alice)
    )
    stream = f"room:{room.json()['id']}"
    async with websockets.connect(ws_url(server)) as ws:
        client = WsClient(ws)
        await client.send({"type": "auth", "id": "a-1", "token": alice["access_token"]})
        assert (await client.recv())["id"] == "a-1"
        await client.send({"type": "auth", "id": "a-2", "token": alice["access_token"]})
        renewed, _ = await client.recv_until("hello")
        assert renewed["id"] == "a-2"
        await client.send({"type": "room.join", "id": "j-1", "room_id": room.json()["id"]})
        presence, _ = await client.recv_until("room.presence")
        assert presence["id"] == "j-1" and presence["user_ids"] == [alice["user"]["id"]]
        await client.send({"type": "resume", "id": "r-1", "streams": {stream: 0}})
        resumed, _ = await client.recv_until("resumed")
        assert resumed == {"type": "resumed", "stream": stream, "replayed": 0, "latest_seq": 0, "id": "r-1"}
    async with websockets.connect(ws_url(server) + f"?access_token={alice['access_token']}") as ws:
        assert "id" not in json.loads(await ws.recv())


async def test_token_in_query_or_subprotocol(server: str, alice: dict) -> None:
    token = alice["access_token"]
    async with websockets.connect(ws_url(server) + f"?access_token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    async with websockets.connect(ws_url(server), subprotocols=["sensay-hub.v2", f"access_token.{token}"]) as ws:
        assert ws.subprotocol == "sensay-hub.v2"
        assert json.loads(await ws.recv())["type"] == "hello"


@pytest.mark.parametrize(
    ("first_frame", "code"),
    [
        ({"type": "chat.send", "id": "x", "replica_id": "r", "content": "hi"}, 4001),
        ({"type": "auth", "token": "garbage"}, 4001),
        ("not json", 4001),
    ],
    ids=["frame-before-auth", "bad-token", "invalid-json-before-auth"],
)
async def test_unauthenticated_sockets_are_closed(server: str, alice: dict, first_frame: object, code: int) -> None:
    async with connect(server, alice["access_token"]) as neighbour, connect(server) as stranger:
        await stranger.ws.send(first_frame if isinstance(first_frame, str) else json.dumps(first_frame))
        assert await stranger.close_code() == code
        await assert_still_works(neighbour)


async def test_expired_token_is_refused(server: str, alice: dict) -> None:
    claims = jwt.decode(alice["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 30}, TEST_JWT_SECRET, algorithm="HS256")
    async with connect(server) as client:
        await client.send({"type": "auth", "token": expired})
        assert await client.close_code() == 4001
        assert "expired" in client.ws.close_reason


async def test_silent_socket_is_closed_after_the_auth_deadline(server: str) -> None:
    async with connect(server) as client:
        assert await client.close_code(timeout=5) == 4002


async def test_foreign_origin_is_rejected_at_the_handshake(server: str, alice: dict) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(ws_url(server), origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403
    async with websockets.connect(ws_url(server), origin="http://localhost:3000") as ws:
        await ws.send(json.dumps({"type": "auth", "token": alice["access_token"]}))
        assert json.loads(await ws.recv())["type"] == "hello"


@pytest.mark.parametrize(
    ("raw", "code", "frame_id"),
    [
        ("{not json", "invalid_json", None),
        ('["a", "list"]', "invalid_json", None),
        ('{"type": "teleport", "id": "t1"}', "unknown_type", "t1"),
        ('{"id": "t2"}', "unknown_type", "t2"),
        ('{"type": "chat.send", "id": "t3", "replica_id": "r"}', "invalid_frame", "t3"),
        ('{"type": "chat.send", "id": "t4", "replica_id": "r", "content": 5}', "invalid_frame", "t4"),
        ('{"type": "ping", "id": "t5", "extra": true}', "invalid_frame", "t5"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_lives(
    server: str, alice: dict, raw: str, code: str, frame_id: str | None
) -> None:
    async with connect(server, alice["access_token"]) as client:
        await client.ws.send(raw)
        error = await client.recv()
        assert error["type"] == "error" and error["code"] == code and error.get("id") == frame_id
        assert error["message"]
        await assert_still_works(client)


async def test_binary_frames_are_refused_with_an_error(server: str, alice: dict) -> None:
    async with connect(server, alice["access_token"]) as client:
        await client.ws.send(b'{"type": "ping"}')
        error = await client.recv()
        assert error["code"] == "binary_not_supported"
        await assert_still_works(client)


async def test_oversized_frame_closes_only_that_socket(server: str, alice: dict) -> None:
    async with connect(server, alice["access_token"]) as neighbour, connect(server, alice["access_token"]) as big:
        await big.ws.send(json.dumps({"type": "ping", "id": "x" * 70_000}))
        assert await big.close_code() == 1009
        await assert_still_works(neighbour)


async def test_flooding_is_rate_limited_then_closed(server: str, alice: dict, bob: dict) -> None:
    """A flooding socket gets rate_limited errors, then 4009; another user's socket is untouched."""
    async with connect(server, bob["access_token"]) as neighbour, connect(server, alice["access_token"]) as flood:
        for n in range(400):
            try:
                await flood.send({"type": "ping", "id": str(n)})
            except websockets.ConnectionClosed:
                break
        codes = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                frame = await flood.recv()
                codes.append(frame.get("code"))
        assert "rate_limited" in codes
        assert flood.ws.close_code == 4009
        await assert_still_works(neighbour)


async def test_logout_closes_that_sessions_sockets(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    relogin = await http.post(
        "/api/auth/login", json={"email": "alice@example.com", "password": "correct horse battery"}
    )
    other = relogin.json()
    async with connect(server, alice["access_token"]) as first, connect(server, other["access_token"]) as second:
        assert (await http.post("/api/auth/logout", headers=bearer(alice))).status_code == 204
        assert await first.close_code() == 4003
        await assert_still_works(second)
    async with connect(server) as again:
        await again.send({"type": "auth", "token": alice["access_token"]})
        assert await again.close_code() == 4001


async def test_slow_consumer_is_closed_while_a_fast_one_keeps_receiving(
    settings: Settings, replica: LocalReplica, alice: dict
) -> None:
    """A tab that stops reading is closed with 4008 once its queue is full; its sibling gets everything."""
    small_queue = replace(settings, ws_send_queue=64)
    async with run_server(create_app(small_queue, replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            login = await http.post("/api/auth/login", json=ALICE)
            token = login.json()["access_token"]
        slow = await stalled_socket(url, token)
        closes_before = sample(await scrape(url), "sensay_hub_ws_closes_total", reason="slow_consumer")
        async with connect(url, token) as fast:
            sent = 0
            for n in range(40):
                content = f"{n} " + "x" * 60_000
                await fast.send(
                    {"type": "chat.send", "id": f"big-{n}", "replica_id": ADA_LOVELACE_UUID, "content": content}
                )
                sent += 1
                while True:  # the fast tab reads everything: its ack, its message, the streamed reply
                    frame = await fast.recv(timeout=10)
                    if frame["type"] == "message" and frame["message"]["sender"] == "replica":
                        break
            assert sent == 40
            await assert_still_works(fast)
        data = bytearray()
        close_frame = (4008).to_bytes(2, "big") + b"send queue overflow"
        async with asyncio.timeout(10):
            while close_frame not in data:  # read what was buffered, down to the close frame
                chunk = await asyncio.get_running_loop().sock_recv(slow, 1 << 20)
                assert chunk, "the server hung up without a close frame"
                data += chunk
        slow.close()
        closes = sample(await scrape(url), "sensay_hub_ws_closes_total", reason="slow_consumer")
        assert closes == closes_before + 1, "the close is counted in the metrics"


async def test_sockets_drain_with_1012_on_shutdown(settings: Settings, replica: LocalReplica, alice: dict) -> None:
    async with run_server(create_app(settings, replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            login = await http.post("/api/auth/login", json=ALICE)
        client_cm = connect(url, login.json()["access_token"])
        client = await client_cm.__aenter__()
    try:
        assert await client.close_code() in (1012, 1001)
    finally:
        await client_cm.__aexit__(None, None, None)
    await asyncio.sleep(0)


async def test_dead_peer_is_dropped_by_the_heartbeat(settings: Settings, replica: LocalReplica, alice: dict) -> None:
    """A peer that stops answering pings (its process hung, its network gone) is disconnected."""
    app = create_app(settings, replica=replica)
    async with run_server(app, ws_ping_interval=0.2, ws_ping_timeout=0.2) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            token = (await http.post("/api/auth/login", json=ALICE)).json()["access_token"]
        dead = await stalled_socket(url, token)  # never reads, so never answers a ping
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(5):
                while await loop.sock_recv(dead, 65536):
                    pass  # what the server sent before giving up; then end of stream
        finally:
            dead.close()
