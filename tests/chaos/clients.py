"""Simulated users for the chaos tests: each has tabs (sockets) on different hubs that reconnect to another hub
when theirs dies and `resume` from the last seq they saw, as the TypeScript client does, and never re-send an
acked message. What each tab received is kept, so the tests can count what was lost and who was told."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from server.sensay.local import ADA_LOVELACE_UUID
from tests.utils import ws_url

STREAM = f"chat:{ADA_LOVELACE_UUID}"


class Tab:
    """One socket of a user, reconnecting (to the next hub) and resuming after a drop or a `resync`."""

    def __init__(self, token: str, urls: list[str], hub: int) -> None:
        self.token = token
        self.urls = urls
        self.hub = hub
        self.ready = asyncio.Event()
        self.ws: websockets.ClientConnection | None = None
        self.drops = 0
        self.resumes = 0
        self.resumed = 0
        self.resyncs = 0
        self.restarts: set[str] = set()
        self.deltas: defaultdict[str, int] = defaultdict(int)
        self.replies: dict[str, dict[str, Any]] = {}
        """Replica messages received (live or replayed), by the id of the message they answer."""
        self.acks: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self.last_seq = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def send(self, frame: dict[str, Any]) -> None:
        while True:
            await self.ready.wait()
            try:
                assert self.ws is not None
                await self.ws.send(json.dumps(frame))
                return
            except (websockets.WebSocketException, AssertionError):
                await asyncio.sleep(0.1)

    async def send_acked(self, frame: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send until acked: an un-acked frame is sent again (the same id), as a client does after a drop."""
        async with asyncio.timeout(timeout):
            while True:
                await self.send(frame)
                for _ in range(30):
                    if frame["id"] in self.acks:
                        return self.acks[frame["id"]]
                    await asyncio.sleep(0.1)

    async def _run(self) -> None:
        first = True
        while True:
            try:
                async with websockets.connect(ws_url(self.urls[self.hub]), open_timeout=3, max_queue=None) as ws:
                    await ws.send(json.dumps({"type": "auth", "token": self.token}))
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if hello["type"] != "hello":
                        raise ConnectionError(hello)
                    self.ws = ws
                    if not first:
                        await self._resume()
                    first = False
                    self.ready.set()
                    async for raw in ws:
                        await self._handle(json.loads(raw))
            except (OSError, websockets.WebSocketException, TimeoutError, ConnectionError):
                pass
            self.ready.clear()
            self.ws = None
            if not first:
                self.drops += 1
            self.hub = (self.hub + 1) % len(self.urls)
            await asyncio.sleep(0.2)

    async def _resume(self) -> None:
        self.resumes += 1
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "resume", "id": f"r{self.resumes}", "streams": {STREAM: self.last_seq}}))

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ack" and frame.get("id"):
            self.acks[frame["id"]] = frame
        elif kind == "message":
            message = frame["message"]
            if message["stream"] == STREAM:
                self.last_seq = max(self.last_seq, message["seq"])
                if message["sender"] == "replica":
                    self.replies[message["reply_to"]] = message
        elif kind == "reply.delta":
            self.deltas[frame["reply_to"]] += 1
        elif kind == "reply.started" and frame.get("restart"):
            self.restarts.add(frame["reply_to"])
        elif kind == "resumed":
            self.resumed += 1
        elif kind == "resync":
            self.resyncs += 1
            await self._resume()
        elif kind == "error":
            self.errors.append(frame)


@dataclass
class User:
    email: str
    token: str
    tabs: list[Tab]
    sent: dict[str, str] = field(default_factory=dict)
    """Acked messages: message id → content."""


async def sign_up(http: httpx.AsyncClient, email: str) -> str:
    password = "correct horse battery staple"
    response = await http.post("/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def stored(http: httpx.AsyncClient, user: User) -> list[dict[str, Any]]:
    response = await http.get(
        "/api/conversations",
        params={"replica_id": ADA_LOVELACE_UUID, "limit": 200},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages
