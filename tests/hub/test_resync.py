"""After a Redis outage, `resync` names per stream the seq to resume from, so a client that resumes from exactly
that (and detects no holes itself) ends with every message, in chats and rooms."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

import httpx

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..services import PrivateRedis
from ..utils import WsClient, connect, run_server, signup_and_login
from .test_multi_node import WAIT, join, make_room

CHAT = f"chat:{ADA_LOVELACE_UUID}"


class Tab:
    """A socket and the seqs of every message it was sent, per stream: a client without hole detection."""

    def __init__(self, name: str, ws: WsClient) -> None:
        self.name = name
        self.ws = ws
        self.seqs: dict[str, set[int]] = defaultdict(set)

    def record(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            if frame["type"] == "message":
                self.seqs[frame["message"]["stream"]].add(frame["message"]["seq"])

    async def until(self, type_: str, **match: Any) -> dict[str, Any]:
        """Read (recording) until a frame of ``type_`` whose fields (or whose message's fields) match."""
        while True:
            frame, before = await self.ws.recv_until(type_, timeout=WAIT)
            self.record([*before, frame])
            fields = frame.get("message", frame)
            if all(fields.get(key) == value for key, value in match.items()):
                return frame

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a chat or room message; return its ack once the socket has its own message back."""
        await self.ws.send(frame)
        ack = await self.until("ack", id=frame["id"])
        while ack["seq"] not in self.seqs[ack["stream"]]:
            await self.until("message")
        return ack

    async def resume_as_told(self, resync: dict[str, Any]) -> dict[str, int]:
        """Resume what the resync names from where it says (else from the highest seq seen); the latest seqs."""
        streams = [
            *resync["streams"],
            *([s for s in self.seqs if s.startswith("chat:")] if resync["all_chats"] else []),
        ]
        positions = {stream: resync.get("resume_from", {}).get(stream, max(self.seqs[stream])) for stream in streams}
        await self.ws.send({"type": "resume", "id": f"resume-{self.name}", "streams": positions})
        latest = {}
        for _ in positions:
            resumed = await self.until("resumed")
            latest[resumed["stream"]] = resumed["latest_seq"]
        return latest


async def test_resuming_from_what_resync_names_leaves_no_hole_in_rooms_or_chats(
    settings: Settings, replica: LocalReplica, redis: PrivateRedis
) -> None:
    replica.word_delay = 0.0
    shared = replace(settings, redis_url=Secret(redis.url))
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        run_server(create_app(shared, replica=replica)) as node_b,
        httpx.AsyncClient(base_url=node_a, timeout=10) as http,
    ):
        alice = await signup_and_login(http, "alice@example.com")
        bob = await signup_and_login(http, "bob@example.com")
        room_id = await make_room(http, alice, bob)
        room = f"room:{room_id}"
        async with (
            connect(node_a, alice["access_token"]) as alice_a_ws,
            connect(node_b, alice["access_token"]) as alice_b_ws,
            connect(node_b, bob["access_token"]) as bob_b_ws,
        ):
            alice_a, alice_b, bob_b = Tab("alice_a", alice_a_ws), Tab("alice_b", alice_b_ws), Tab("bob_b", bob_b_ws)
            tabs = (alice_a, alice_b, bob_b)
            for tab in tabs:
                await join(tab.ws, room_id)

            # Before the gap: everyone has the room message and the replica's turn after it; Alice's tabs have her
            # chat message and its reply.
            before = await alice_a.send({"type": "room.send", "id": "r1", "room_id": room_id, "content": "before"})
            for tab in tabs:
                await tab.until("message", stream=room, sender="replica")
            room_before = max(alice_a.seqs[room])
            assert room_before > before["seq"] and all(max(tab.seqs[room]) == room_before for tab in tabs)
            chat = await alice_a.send(
                {"type": "chat.send", "id": "c1", "replica_id": ADA_LOVELACE_UUID, "content": "hi"}
            )
            for tab in (alice_a, alice_b):
                await tab.until("message", stream=CHAT, sender="replica")
            chat_before = max(alice_b.seqs[CHAT])
            assert chat_before > chat["seq"]

            # During the gap each node delivers only its own publishes: node B's sockets get seq N+1 without N.
            await redis.stop()
            from_a = await alice_a.send({"type": "room.send", "id": "r2", "room_id": room_id, "content": "from A"})
            from_b = await bob_b.send({"type": "room.send", "id": "r3", "room_id": room_id, "content": "from B"})
            await alice_b.until("message", stream=room, seq=from_b["seq"])
            assert from_a["seq"] < from_b["seq"]
            assert from_a["seq"] not in bob_b.seqs[room], "the hole a client resuming from its highest seq keeps"
            chat_a = await alice_a.send(
                {"type": "chat.send", "id": "c2", "replica_id": ADA_LOVELACE_UUID, "content": "from A"}
            )
            await alice_a.until("message", stream=CHAT, sender="replica", reply_to=chat_a["message_id"])
            chat_b = await alice_b.send(
                {"type": "chat.send", "id": "c3", "replica_id": ADA_LOVELACE_UUID, "content": "from B"}
            )
            assert chat_a["seq"] not in alice_b.seqs[CHAT] and chat_b["seq"] in alice_b.seqs[CHAT]
            await redis.start()

            for tab in tabs:
                resync = await tab.until("resync")
                assert resync["resume_from"][room] == room_before, f"{tab.name}: the last seq before the gap"
                if tab is not bob_b:
                    assert resync["resume_from"][CHAT] == chat_before, tab.name
                latest = await tab.resume_as_told(resync)
                for stream, newest in latest.items():
                    missing = set(range(1, newest + 1)) - tab.seqs[stream]
                    assert missing == set(), f"{tab.name} never got {stream} seqs {sorted(missing)}"
