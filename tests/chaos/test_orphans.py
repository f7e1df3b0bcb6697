"""A hub killed (SIGKILL) right after acking a chat message and before recording its reply: the message was acked,
so it must still get its reply, once, with one Sensay call (README "Delivery guarantees"); a room message acked
so gets its room's turns, once. Real processes: three
`serve` hubs on one database and a private Redis, a standalone local replica; the fault is the test-only hook."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from server.replies.faults import KILL_AFTER_ACK, VARIABLE
from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID
from tests.utils import ws_url

from .cluster import Cluster

pytestmark = pytest.mark.timeout(240)  # three hubs start on a shared, loaded machine

LEASE = 2.0
REPLY_TIMEOUT = 60.0


async def _sign_up(url: str) -> str:
    email, password = f"orphan-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery staple"
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert (await http.post("/api/auth/signup", json={"email": email, "password": password})).status_code == 201
        answer = await http.post("/api/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


async def _socket(url: str, token: str) -> Any:
    ws = await websockets.connect(ws_url(url), open_timeout=10, max_queue=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello", hello
    return ws


async def _frame(ws: Any, matches: Any) -> dict[str, Any]:
    async for raw in ws:
        frame: dict[str, Any] = json.loads(raw)
        assert frame["type"] != "error", frame
        if matches(frame):
            return frame
    raise AssertionError("the socket closed")


async def test_a_message_acked_just_before_a_crash_gets_its_reply(database_url: str) -> None:
    cluster = Cluster(database_url, lease=LEASE)
    cluster.hubs[0].env[VARIABLE] = KILL_AFTER_ACK
    try:
        await cluster.start()
        token = await _sign_up(cluster.urls[1])
        watcher = await _socket(cluster.urls[1], token)  # another tab of the user, on a hub that lives
        doomed = await _socket(cluster.urls[0], token)
        content = f"are you there? {uuid.uuid4().hex}"
        await doomed.send(
            json.dumps({"type": "chat.send", "id": "c-1", "replica_id": ADA_LOVELACE_UUID, "content": content})
        )
        ack = await asyncio.wait_for(_frame(doomed, lambda f: f["type"] == "ack"), 10)
        assert ack["id"] == "c-1" and not ack.get("duplicate")
        hub = cluster.hubs[0].process
        assert hub is not None
        async with asyncio.timeout(30):
            while hub.poll() is None:
                await asyncio.sleep(0.1)
        assert hub.returncode == -signal.SIGKILL  # died between the ack and the reply row

        def is_reply(frame: dict[str, Any]) -> bool:
            return frame["type"] == "message" and frame["message"].get("reply_to") == ack["message_id"]

        reply = await asyncio.wait_for(_frame(watcher, is_reply), REPLY_TIMEOUT)
        assert reply["message"]["sender"] == "replica" and reply["message"]["content"]
        await watcher.close()

        conn = await asyncpg.connect(database_url)
        try:
            kept = await conn.fetch("SELECT id FROM conversations WHERE reply_to = $1", uuid.UUID(ack["message_id"]))
            row = await conn.fetchrow("SELECT state, attempts FROM replies WHERE reply_to = $1", ack["message_id"])
        finally:
            await conn.close()
        assert len(kept) == 1
        assert row is not None and row["state"] == "done" and row["attempts"] == 1
        calls = await cluster.sensay_calls()
        assert sum(n for prompt, n in calls.items() if content in prompt) == 1
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        cluster.cleanup()


async def _join(ws: Any, room_id: str) -> None:
    await ws.send(json.dumps({"type": "room.join", "id": f"j-{room_id}", "room_id": room_id}))
    await asyncio.wait_for(_frame(ws, lambda f: f.get("id") == f"j-{room_id}"), 10)


async def test_a_room_message_acked_just_before_a_crash_gets_its_turns(database_url: str) -> None:
    cluster = Cluster(database_url, lease=LEASE)
    cluster.hubs[0].env[VARIABLE] = KILL_AFTER_ACK
    turns = 2
    try:
        await cluster.start()
        token = await _sign_up(cluster.urls[1])
        body = {
            "name": "orphans",
            "replica_ids": [ADA_LOVELACE_UUID, SOCRATES_UUID],
            "member_ids": [],
            "mode": "round_robin",
            "settings": {"max_turns": turns},
        }
        async with httpx.AsyncClient(base_url=cluster.urls[1], timeout=10) as http:
            answer = await http.post("/api/rooms", json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text
        room_id = answer.json()["id"]
        watcher = await _socket(cluster.urls[1], token)
        await _join(watcher, room_id)
        doomed = await _socket(cluster.urls[0], token)
        await _join(doomed, room_id)
        await doomed.send(json.dumps({"type": "room.send", "id": "r-1", "room_id": room_id, "content": "hi all"}))
        ack = await asyncio.wait_for(_frame(doomed, lambda f: f["type"] == "ack"), 10)
        assert ack["id"] == "r-1" and not ack.get("duplicate")
        hub = cluster.hubs[0].process
        assert hub is not None
        async with asyncio.timeout(30):
            while hub.poll() is None:
                await asyncio.sleep(0.1)
        assert hub.returncode == -signal.SIGKILL  # died between the ack and the run's row

        def is_turn(frame: dict[str, Any]) -> bool:
            message = frame.get("message") or {}
            return frame["type"] == "message" and message.get("sender") == "replica"

        shown = [await asyncio.wait_for(_frame(watcher, is_turn), REPLY_TIMEOUT) for _ in range(turns)]
        assert {turn["message"]["replica_id"] for turn in shown} == {ADA_LOVELACE_UUID, SOCRATES_UUID}
        await watcher.close()

        conn = await asyncpg.connect(database_url)
        try:
            async with asyncio.timeout(REPLY_TIMEOUT):  # the run is recorded done just after its last turn
                while True:
                    row = await conn.fetchrow(
                        "SELECT state, attempts FROM replies WHERE reply_to = $1", ack["message_id"]
                    )
                    if row is not None and row["state"] == "done":
                        break
                    await asyncio.sleep(0.2)
            kept = await conn.fetchval(
                "SELECT count(*) FROM room_messages WHERE room_id = $1 AND sender = 'replica'", uuid.UUID(room_id)
            )
        finally:
            await conn.close()
        assert kept == turns and row["attempts"] == 1
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        cluster.cleanup()
