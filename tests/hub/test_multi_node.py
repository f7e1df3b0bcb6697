"""Server processes sharing PostgreSQL and Redis act as one hub, and say so when Redis loses frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import TEST_JWT_SECRET, bearer
from ..services import PrivateRedis
from ..test_cli import serving
from ..utils import WsClient, connect, run_server, signup_and_login

WAIT = 30.0
"""Generous bound for what happens in the background: reconnects back off, presence heartbeats."""


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


async def present_on(node: str, room_id: str, login: dict) -> list[str]:
    async with httpx.AsyncClient(base_url=node, timeout=10) as http:
        response = await http.get(f"/api/rooms/{room_id}", headers=bearer(login))
        assert response.status_code == 200, response.text
        return sorted(response.json()["present"])


async def join(tab: WsClient, room_id: str) -> None:
    await tab.send({"type": "room.join", "id": "j", "room_id": room_id})
    await tab.recv_until("room.presence")


async def make_room(http: httpx.AsyncClient, owner: dict, member: dict) -> str:
    body = {"name": "across", "replica_ids": [ADA_LOVELACE_UUID], "member_ids": [member["user"]["id"]]}
    response = await http.post("/api/rooms", json=body, headers=bearer(owner))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_tabs_on_different_nodes_see_the_same_conversation(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    shared = replace(settings, redis_url=Secret(shared_redis))
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        run_server(create_app(shared, replica=replica)) as node_b,
    ):
        async with httpx.AsyncClient(base_url=node_a) as http:
            login = await signup_and_login(http, "multi@example.com")
            token = login["access_token"]
            async with connect(node_a, token) as tab_a, connect(node_b, token) as tab_b:
                await tab_a.send({"type": "chat.send", "id": "n1", "replica_id": ADA_LOVELACE_UUID, "content": "hi"})
                assert (await tab_a.recv())["type"] == "ack"
                seen_b = []
                while not seen_b or seen_b[-1].get("message", {}).get("sender") != "replica":
                    seen_b.append(await tab_b.recv())
                assert seen_b[0]["message"]["content"] == "hi"
                assert any(f["type"] == "reply.delta" for f in seen_b)

                # Logging out through node A closes the session's socket on node B.
                assert (await http.post("/api/auth/logout", headers=bearer(login))).status_code == 204
                assert await tab_b.close_code() == 4003
            # Node B verified this session a moment ago and remembers it live; the logout reached it on the broker.
            async with connect(node_b) as again:
                await again.send({"type": "auth", "token": token})
                assert await again.close_code() == 4001


async def test_a_redis_restart_makes_every_socket_resync_and_resume_brings_what_the_outage_lost(
    settings: Settings, replica: LocalReplica, redis: PrivateRedis
) -> None:
    shared = replace(settings, redis_url=Secret(redis.url), presence_ttl=3.0)
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        run_server(create_app(shared, replica=replica)) as node_b,
        httpx.AsyncClient(base_url=node_a, timeout=10) as http,
    ):
        alice = await signup_and_login(http, "alice@example.com")
        bob = await signup_and_login(http, "bob@example.com")
        room_id = await make_room(http, alice, bob)
        stream = f"room:{room_id}"
        async with (
            connect(node_a, alice["access_token"]) as alice_a,
            connect(node_b, alice["access_token"]) as alice_b,
            connect(node_b, bob["access_token"]) as bob_b,
        ):
            for tab in (alice_a, alice_b, bob_b):
                await join(tab, room_id)
            everyone = sorted([alice["user"]["id"], bob["user"]["id"]])
            assert await present_on(node_a, room_id, alice) == everyone
            assert await present_on(node_b, room_id, bob) == everyone

            await redis.stop()
            await alice_a.send({"type": "room.send", "id": "o1", "room_id": room_id, "content": "said in the dark"})
            ack, _ = await alice_a.recv_until("ack", timeout=WAIT)
            live, _ = await alice_a.recv_until("message", timeout=WAIT)  # node A's own sockets need no Redis
            assert live["message"]["content"] == "said in the dark"
            chat = f"chat:{ADA_LOVELACE_UUID}"
            await alice_a.send({"type": "chat.send", "id": "o2", "replica_id": ADA_LOVELACE_UUID, "content": "psst"})
            chat_ack, _ = await alice_a.recv_until("ack", timeout=WAIT)
            assert chat_ack["stream"] == chat
            await redis.start()

            seen: dict[str, list[dict[str, Any]]] = {}
            for name, tab in (("alice_a", alice_a), ("alice_b", alice_b), ("bob_b", bob_b)):
                resync, seen[name] = await tab.recv_until("resync", timeout=WAIT)
                assert resync["streams"] == [stream], name
                assert resync["all_chats"] is True, name
            missed = [f for f in seen["bob_b"] if f.get("message", {}).get("client_id") == "o1"]
            assert missed == [], "node B never got the frame live: the resync stands for it"
            missed = [f for f in seen["alice_b"] if f.get("message", {}).get("client_id") == "o2"]
            assert missed == [], "nor Alice's other tab her chat message"

            await alice_b.send({"type": "resume", "id": "r0", "streams": {chat: 0}})
            resumed, replayed = await alice_b.recv_until("resumed", timeout=WAIT)
            assert resumed["stream"] == chat
            chat_messages = [f["message"] for f in replayed if f.get("message", {}).get("stream") == chat]
            assert chat_ack["seq"] in [m["seq"] for m in chat_messages if m["content"] == "psst"]

            await bob_b.send({"type": "resume", "id": "r1", "streams": {stream: 0}})
            resumed, replayed = await bob_b.recv_until("resumed", timeout=WAIT)
            assert resumed["stream"] == stream
            contents = [f["message"]["content"] for f in replayed if f["type"] == "message"]
            assert "said in the dark" in contents
            assert ack["seq"] in [f["message"]["seq"] for f in replayed if f["type"] == "message"]

            # Redis came back empty; each process writes its presence back, and both nodes agree again.
            async def agreed() -> bool:
                return await present_on(node_a, room_id, alice) == await present_on(node_b, room_id, bob) == everyone

            await eventually(agreed)

            # A logout during an outage still closes the session's sockets on the other node, once Redis is back.
            await redis.stop()
            assert (await http.post("/api/auth/logout", headers=bearer(alice))).status_code == 204
            await redis.start()
            assert await alice_b.close_code(timeout=WAIT) == 4003


async def test_presence_is_global_and_a_killed_process_drops_out_within_its_ttl(
    settings: Settings, replica: LocalReplica, redis: PrivateRedis, database_url: str, tmp_path: Path
) -> None:
    shared = replace(settings, redis_url=Secret(redis.url), presence_ttl=3.0)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "REDIS_PREFIX": settings.redis_prefix,
        "JWT_SECRET": TEST_JWT_SECRET,
        "PRESENCE_TTL": "2",
    }
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        httpx.AsyncClient(base_url=node_a, timeout=10) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        alice = await signup_and_login(http, "alice@example.com")
        bob = await signup_and_login(http, "bob@example.com")
        room_id = await make_room(http, alice, bob)
        process = serving(tmp_path, **env)
        doomed = await asyncio.to_thread(process.__enter__)
        stack.push_async_callback(asyncio.to_thread, process.__exit__, None, None, None)

        alice_a = await stack.enter_async_context(connect(node_a, alice["access_token"]))
        await join(alice_a, room_id)
        bob_doomed = await stack.enter_async_context(connect(doomed.base_url, bob["access_token"]))
        await bob_doomed.send({"type": "room.join", "id": "j", "room_id": room_id})
        snapshot, _ = await bob_doomed.recv_until("room.presence")
        everyone = sorted([alice["user"]["id"], bob["user"]["id"]])
        assert sorted(snapshot["user_ids"]) == everyone, "the joiner sees who is present on the other process"
        while (await alice_a.recv_until("room.joined"))[0]["user_id"] != bob["user"]["id"]:
            pass  # her own joined may come after her snapshot: it goes through Redis, the snapshot does not
        assert await present_on(node_a, room_id, alice) == everyone
        assert await present_on(doomed.base_url, room_id, bob) == everyone

        doomed.process.kill()  # SIGKILL: no leave, no clean-up
        await asyncio.to_thread(doomed.process.wait)

        async def bob_gone() -> bool:
            return await present_on(node_a, room_id, alice) == [alice["user"]["id"]]

        await eventually(bob_gone)
