"""Everyday operations under load, with real processes (three hubs, one PostgreSQL, a private Redis, a standalone
local replica): a SIGTERM mid-reply, a rolling restart under chat and room load, a kill -9 between storing a reply
and publishing it, a PostgreSQL outage. 10 users with three sockets each (30 sockets) send 110 chat messages.

Each scenario counts, and asserts 0, 0, 0, 0 and exactly 1: acked messages lost; replies (and room turns) never
shown on a socket of their audience (live or replayed by `resume`); duplicate replies; error frames that were not
true (every reply completes here, so any `error` frame is untrue: a delay is a `notice`); and Sensay calls per
message (counted at the local replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from server.replies.faults import KILL_AFTER_STORE, VARIABLE
from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID
from tests.services import PrivatePostgres
from tests.utils import ws_url

from .cluster import Cluster, Process

pytestmark = pytest.mark.timeout(300)  # three hubs, a PostgreSQL and 30 sockets start on a shared, loaded machine

USERS = 10
TABS = 3
MESSAGES = 11
WORD_DELAY = 0.08
LEASE = 5.0
"""Long enough that a loaded machine (the suite runs beside other work) renews leases in time."""
OUTAGE_WORD_DELAY = 0.2
OUTAGE = 10.0
"""The outage test's replies (about 35 words: 7 s) stream for long enough that many are under way when the database
stops, and end within the outage, so each of them waits for it (at 0.08 s a word, the faster reply path of d327a9c
finished every reply before the database stopped, and no notice was due; at 0.3 s a word, replies could outlast the
outage and none had to wait)."""
DRAIN = 0.5
"""SHUTDOWN_DRAIN_SECONDS of the hubs: short, so a SIGTERM hands replies over instead of finishing them."""
SETTLE_TIMEOUT = 60.0
CHAT = f"chat:{ADA_LOVELACE_UUID}"
ROOMS = 5
ROOM_TURNS = 6
"""Each room's one run: long enough to be under way on the hubs as they restart."""


class Tab:
    """One socket of a user: reconnects to the next hub after a drop, re-joins its rooms and resumes every stream it
    follows from the last seq before its first hole (as the TypeScript client does); never re-sends an acked
    frame."""

    def __init__(self, token: str, urls: list[str], hub: int) -> None:
        self.token = token
        self.urls = urls
        self.hub = hub
        self.rooms: list[str] = []
        self.ready = asyncio.Event()
        self.ws: websockets.ClientConnection | None = None
        self.drops = 0
        self.seen: defaultdict[str, set[int]] = defaultdict(set)
        self.replies: dict[str, set[str]] = defaultdict(set)
        """Replica message ids received (live or replayed), per stream."""
        self.acks: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.deltas: set[str] = set()
        self.restarts: set[str] = set()
        self.answered: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def send_acked(self, frame: dict[str, Any], timeout: float = 40.0) -> dict[str, Any]:
        """Send until acked (an un-acked frame is sent again with the same id, as after a drop)."""
        async with asyncio.timeout(timeout):
            while True:
                await self.ready.wait()
                with contextlib.suppress(websockets.WebSocketException, AttributeError):
                    assert self.ws is not None
                    await self.ws.send(json.dumps(frame))
                for _ in range(100):  # a loaded machine may take seconds to ack
                    if frame["id"] in self.acks:
                        return self.acks[frame["id"]]
                    await asyncio.sleep(0.1)

    async def join(self, room_id: str) -> None:
        self.rooms.append(room_id)
        await self.ready.wait()
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "room.join", "id": f"j-{room_id}", "room_id": room_id}))

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
                        for room_id in self.rooms:
                            await ws.send(json.dumps({"type": "room.join", "id": f"j-{room_id}", "room_id": room_id}))
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

    def contiguous(self, stream: str) -> int:
        """The last seq before the first hole: resuming from it fills holes (as the TypeScript client does; live
        frames of one stream published by different processes may arrive out of order)."""
        seen, seq = self.seen[stream], 0
        while seq + 1 in seen:
            seq += 1
        return seq

    async def _resume(self) -> None:
        assert self.ws is not None
        streams = {CHAT: self.contiguous(CHAT), **{f"room:{r}": self.contiguous(f"room:{r}") for r in self.rooms}}
        await self.ws.send(json.dumps({"type": "resume", "id": f"r-{uuid.uuid4().hex[:6]}", "streams": streams}))

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ack" and frame.get("id"):
            self.acks[frame["id"]] = frame
        elif kind == "message":
            message = frame["message"]
            self.seen[message["stream"]].add(message["seq"])
            if message["sender"] == "replica":
                self.replies[message["stream"]].add(message["id"])
                self.answered.add(message.get("reply_to") or "")
        elif kind == "reply.delta":
            self.deltas.add(frame["reply_to"])
        elif kind == "reply.started" and frame.get("restart"):
            self.restarts.add(frame["reply_to"])
        elif kind == "resync":
            await self._resume()
        elif kind == "notice":
            self.notices.append(frame)
        elif kind == "error" and frame.get("code") != "resume_unavailable":
            self.errors.append(frame)


@dataclass
class User:
    token: str
    tabs: list[Tab]
    sent: dict[str, str] = field(default_factory=dict)
    """Acked chat messages: message id → content."""
    room: str | None = None


@dataclass
class Counts:
    acked: int = 0
    acked_lost: int = 0
    never_shown: int = 0
    duplicates: int = 0
    untrue_errors: int = 0
    calls_per_message: Counter[int] = field(default_factory=Counter)
    room_turns: int = 0
    taken_up: int = 0
    failed_rows: int = 0
    notices: int = 0
    restarts: int = 0

    def assert_none_lost(self, messages: int) -> None:
        print(f"\n{self}")
        assert self.acked == messages
        assert (self.acked_lost, self.never_shown, self.duplicates, self.untrue_errors) == (0, 0, 0, 0)
        assert self.calls_per_message == Counter({1: messages + self.room_turns})
        assert self.failed_rows == 0


class Load:
    """The users, their sockets and what they sent; counts the damage once everything settled."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.users: list[User] = []
        self.room_runs: dict[str, int] = {}
        """Room id → the turns each of its runs takes."""
        self.sent = 0

    @property
    def tabs(self) -> list[Tab]:
        return [tab for user in self.users for tab in user.tabs]

    async def connect(self) -> None:
        urls = self.cluster.urls
        tokens: list[str] = []
        async with httpx.AsyncClient(timeout=60) as http:  # password hashing is slow: one sign-up per hub at a time
            for start in range(0, USERS, len(urls)):
                tokens += await asyncio.gather(
                    *(
                        sign_up_at(http, urls[n % len(urls)], f"ops-{uuid.uuid4().hex[:8]}@example.com")
                        for n in range(start, min(start + len(urls), USERS))
                    )
                )
        self.users = [
            User(token, [Tab(token, urls, (i + t) % len(urls)) for t in range(TABS)]) for i, token in enumerate(tokens)
        ]
        for tab in self.tabs:
            tab.start()
        await asyncio.wait_for(asyncio.gather(*(tab.ready.wait() for tab in self.tabs)), 20)

    async def open_rooms(self, count: int, turns: int, mode: str = "round_robin") -> None:
        """``count`` users each open a room of the three replicas (``mode``), joined by all their tabs."""
        async with httpx.AsyncClient(base_url=self.cluster.urls[0], timeout=20) as http:
            for user in self.users[:count]:
                body = {
                    "name": "ops",
                    "replica_ids": [ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID],
                    "member_ids": [],
                    "mode": mode,
                    "settings": {"max_turns": turns},
                }
                answer = await http.post("/api/rooms", json=body, headers={"Authorization": f"Bearer {user.token}"})
                assert answer.status_code == 201, answer.text
                user.room = answer.json()["id"]
                self.room_runs[user.room] = turns
                for tab in user.tabs:
                    await tab.join(user.room)
        await asyncio.sleep(0.5)  # the joins are answered

    async def talk(self, count: int) -> None:
        """Send ``count`` chat messages (spread over the users and their tabs), each acked."""

        async def one(user: User, number: int) -> None:
            content = f"ops {number} {uuid.uuid4().hex[:8]}"
            frame = {"type": "chat.send", "id": f"c-{uuid.uuid4().hex}", "replica_id": ADA_LOVELACE_UUID}
            ack = await user.tabs[number % TABS].send_acked({**frame, "content": content})
            user.sent[ack["message_id"]] = content

        start = self.sent
        self.sent += count
        await asyncio.gather(*(one(self.users[n % USERS], n) for n in range(start, start + count)))

    async def speak_in_rooms(self) -> None:
        async def one(user: User) -> None:
            assert user.room is not None
            frame = {"type": "room.send", "id": f"s-{uuid.uuid4().hex}", "room_id": user.room, "content": "hi all"}
            await user.tabs[0].send_acked(frame)

        await asyncio.gather(*(one(user) for user in self.users if user.room is not None))

    def streaming(self) -> int:
        return sum(
            1
            for user in self.users
            for mid in user.sent
            if any(mid in tab.deltas for tab in user.tabs) and not any(mid in tab.answered for tab in user.tabs)
        )

    async def until_streaming(self, count: int) -> None:
        """Until ``count`` replies stream (or every reply sent so far is answered: nothing left to strike)."""
        async with asyncio.timeout(30):
            while self.streaming() < count and not self.all_answered():
                await asyncio.sleep(0.05)
        print("streaming", self.streaming(), "answered", self.all_answered())

    async def until_holding(self, process: Process, count: int, timeout: float = 30) -> None:
        """Until ``process`` holds the leases of ``count`` replies or room runs (it is carrying them out)."""
        assert process.process is not None
        pid = f":{process.process.pid}:"
        conn = await asyncpg.connect(self.cluster.database_url)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    held = await conn.fetchval(
                        "SELECT count(*) FROM replies WHERE state = 'running' AND strpos(holder, $1) > 0", pid
                    )
                    if held >= count:
                        return
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()

    def all_answered(self) -> bool:
        return all(any(mid in tab.answered for tab in user.tabs) for user in self.users for mid in user.sent)

    async def settle_and_count(self) -> Counts:
        """Wait (bounded) until every reply and room turn is stored and shown on every socket of its audience."""
        conn = await asyncpg.connect(self.cluster.database_url)
        try:
            stored: tuple[list[asyncpg.Record], list[asyncpg.Record]] = ([], [])
            with contextlib.suppress(TimeoutError):  # what never came is counted below
                async with asyncio.timeout(SETTLE_TIMEOUT):
                    while True:
                        with contextlib.suppress(OSError, asyncpg.PostgresError):
                            stored = await self._stored(conn)
                            if self._settled(*stored):
                                break
                        await asyncio.sleep(0.5)
            with contextlib.suppress(TimeoutError):  # what is never shown is counted below
                async with asyncio.timeout(10):
                    while self._unshown(*stored):
                        await asyncio.sleep(0.2)
            counts = await self._count(conn, *stored)
        finally:
            await conn.close()
            for tab in self.tabs:
                await tab.stop()
        return counts

    async def _stored(self, conn: asyncpg.Connection) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        chats = await conn.fetch(
            "SELECT id::text, reply_to::text, sender FROM conversations WHERE reply_to = ANY($1::uuid[])",
            [mid for user in self.users for mid in user.sent],
        )
        rooms = await conn.fetch(
            "SELECT id::text, room_id::text, sender, reply_to::text FROM room_messages WHERE room_id = ANY($1::uuid[])",
            list(self.room_runs),
        )
        return list(chats), list(rooms)

    def _settled(self, chats: list[asyncpg.Record], rooms: list[asyncpg.Record]) -> bool:
        answered = {row["reply_to"] for row in chats}
        if not all(mid in answered for user in self.users for mid in user.sent):
            return False
        turns = Counter(row["room_id"] for row in rooms if row["sender"] == "replica")
        return all(turns[room] >= wanted for room, wanted in self.room_runs.items())

    def _unshown(self, chats: list[asyncpg.Record], rooms: list[asyncpg.Record]) -> int:
        reply_of = {row["reply_to"]: row["id"] for row in chats}
        missing = 0
        for user in self.users:
            for tab in user.tabs:
                missing += sum(1 for mid in user.sent if reply_of.get(mid) not in tab.replies[CHAT])
                if user.room is not None:
                    turns = {r["id"] for r in rooms if r["room_id"] == user.room and r["sender"] == "replica"}
                    missing += len(turns - tab.replies[f"room:{user.room}"])
        return missing

    async def _count(
        self, conn: asyncpg.Connection, chats: list[asyncpg.Record], rooms: list[asyncpg.Record]
    ) -> Counts:
        counts = Counts()
        users_rows = await conn.fetch(
            "SELECT id::text FROM conversations WHERE id = ANY($1::uuid[])",
            [mid for user in self.users for mid in user.sent],
        )
        kept = {row["id"] for row in users_rows}
        replies = Counter(row["reply_to"] for row in chats)
        turns = Counter(row["reply_to"] for row in rooms if row["sender"] == "replica")
        calls = await self.cluster.sensay_calls()
        for user in self.users:
            counts.acked += len(user.sent)
            counts.acked_lost += sum(1 for mid in user.sent if mid not in kept)
            for content in user.sent.values():
                counts.calls_per_message[sum(n for prompt, n in calls.items() if content in prompt)] += 1
            for tab in user.tabs:
                counts.untrue_errors += len(tab.errors)
                for error in tab.errors:
                    print("untrue error frame:", error)
                counts.notices += len(tab.notices)
        counts.duplicates = sum(n - 1 for n in replies.values() if n > 1) + sum(n - 1 for n in turns.values() if n > 1)
        counts.never_shown = self._unshown(chats, rooms)
        reply_of = {row["reply_to"]: row["id"] for row in chats}
        for user in self.users:
            for tab in user.tabs:
                for mid in user.sent:
                    if reply_of.get(mid) not in tab.replies[CHAT]:
                        print(f"never shown: reply to {mid} (tab dropped {tab.drops} times)")
        chat_prompts = {prompt for prompt in calls if any(c in prompt for u in self.users for c in u.sent.values())}
        room_calls = [n for prompt, n in calls.items() if prompt not in chat_prompts]
        counts.room_turns = len(room_calls)
        counts.calls_per_message.update(room_calls)
        rows = await conn.fetch("SELECT reply_to, state, attempts FROM replies")
        counts.taken_up = sum(1 for row in rows if row["attempts"] > 1)
        counts.failed_rows = sum(1 for row in rows if row["state"] == "failed")
        counts.restarts = sum(len(tab.restarts) for tab in self.tabs)
        return counts


async def sign_up_at(http: httpx.AsyncClient, url: str, email: str) -> str:
    password = "correct horse battery staple"
    answer = await http.post(f"{url}/api/auth/signup", json={"email": email, "password": password})
    assert answer.status_code == 201, answer.text
    answer = await http.post(f"{url}/api/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def terminate(process: Process) -> int:
    """SIGTERM, as a deploy does; wait (bounded) for the graceful stop."""
    assert process.process is not None
    process.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        while process.process.poll() is None:
            await asyncio.sleep(0.1)
    return process.process.returncode


@dataclass
class Setting:
    cluster: Cluster
    postgres: PrivatePostgres


@pytest.fixture
async def setting() -> AsyncIterator[Callable[..., Awaitable[Setting]]]:
    """Three hubs on a PostgreSQL of the test's own (it can be stopped, and the shared server's connection slots
    are not the test's to take)."""
    made: list[Setting] = []

    async def start(first_hub: dict[str, str] | None = None, *, word_delay: float = WORD_DELAY) -> Setting:
        postgres = PrivatePostgres()
        await postgres.start()
        cluster = Cluster(postgres.url, word_delay=word_delay, lease=LEASE)
        made.append(Setting(cluster, postgres))
        for hub in cluster.hubs:
            hub.env.update({"SHUTDOWN_DRAIN_SECONDS": str(DRAIN), "SENSAY_TIMEOUT": "30"})
        cluster.hubs[0].env.update(first_hub or {})
        await cluster.start()
        return made[-1]

    yield start
    for each in made:
        each.cluster.stop()
        each.cluster.cleanup()
        await each.postgres.close()


async def test_sigterm_mid_reply_hands_the_replies_over(setting: Callable[..., Awaitable[Setting]]) -> None:
    """A deploy stops a hub while it streams replies: they are handed over, not failed, and finish elsewhere."""
    cluster = (await setting()).cluster
    load = Load(cluster)
    try:
        await load.connect()
        talking = asyncio.create_task(load.talk(USERS * MESSAGES))
        await load.until_holding(cluster.hubs[0], 3)  # the deploy strikes while hub 0 streams replies
        assert await terminate(cluster.hubs[0]) == 0
        await talking
        counts = await load.settle_and_count()
        counts.assert_none_lost(USERS * MESSAGES)
        assert counts.taken_up > 0 and counts.restarts > 0
        assert "handed over" in cluster.hubs[0].output() and "Traceback" not in cluster.hubs[0].output()
    except BaseException:
        print(cluster.logs())
        raise


async def test_rolling_restart_of_three_hubs(setting: Callable[..., Awaitable[Setting]]) -> None:
    """A deploy restarts the three hubs in turn (SIGTERM, then started again) under chat and room load: the
    replies and room runs of each stopping hub are handed over and finish elsewhere; the sockets reconnect and
    resume; every reply and room turn is shown once on every socket of its audience, none failed."""
    cluster = (await setting()).cluster
    load = Load(cluster)
    try:
        await load.connect()
        await load.open_rooms(ROOMS, ROOM_TURNS, mode="adversarial")  # turns until max_turns
        await load.speak_in_rooms()  # the rooms' runs go on through the three restarts
        batches = [USERS * MESSAGES // 3, USERS * MESSAGES // 3]
        batches.append(USERS * MESSAGES - sum(batches))
        for index, batch in enumerate(batches):
            talking = asyncio.create_task(load.talk(batch))
            with contextlib.suppress(TimeoutError):  # a hub idle by chance is stopped all the same
                await load.until_holding(cluster.hubs[index], 3, timeout=10)
            assert await terminate(cluster.hubs[index]) == 0
            await cluster.start_hub(index)
            await talking
        counts = await load.settle_and_count()
        counts.assert_none_lost(USERS * MESSAGES)
        assert counts.room_turns >= ROOMS * ROOM_TURNS
        assert counts.taken_up > 0 and counts.restarts > 0
        for hub in cluster.hubs:
            assert "Traceback" not in hub.output(), hub.name
    except BaseException:
        print(cluster.logs())
        raise


async def test_killed_after_storing_before_publishing(setting: Callable[..., Awaitable[Setting]]) -> None:
    """Hub 0 dies (SIGKILL, forced by the test-only fault hook) right after storing a reply and before publishing
    it: a successor finds the stored reply and publishes it."""
    cluster = (await setting({VARIABLE: KILL_AFTER_STORE})).cluster
    load = Load(cluster)
    try:
        await load.connect()
        await load.talk(USERS * MESSAGES)
        assert cluster.hubs[0].process is not None
        async with asyncio.timeout(30):
            while cluster.hubs[0].process.poll() is None:
                await asyncio.sleep(0.1)
        assert cluster.hubs[0].process.returncode == -signal.SIGKILL
        counts = await load.settle_and_count()
        counts.assert_none_lost(USERS * MESSAGES)
        assert counts.taken_up > 0
    except BaseException:
        print(cluster.logs())
        raise


async def test_postgresql_outage_delays_replies_and_says_so(setting: Callable[..., Awaitable[Setting]]) -> None:
    """PostgreSQL stops for 10 s while replies stream: each waiting reply's sockets get a `notice` (`reply_delayed`),
    never an error; every reply comes once the database is back, from the hub that held it (none is taken up
    elsewhere, no socket sees a reply restart); one WARNING when the outage starts."""
    made = await setting(word_delay=OUTAGE_WORD_DELAY)
    cluster, postgres = made.cluster, made.postgres
    load = Load(cluster)
    try:
        await load.connect()
        await load.talk(USERS * MESSAGES)
        await load.until_streaming(USERS * MESSAGES // 3)
        for _ in range(5):  # on a loaded machine every reply can be over before the last ack: one more per user
            if load.streaming():
                break
            await load.talk(USERS)
            await load.until_streaming(1)
        assert load.streaming() > 0, "every reply was over before the outage: nothing for it to delay"
        await postgres.stop()
        await asyncio.sleep(OUTAGE)
        await postgres.start()
        counts = await load.settle_and_count()
        counts.assert_none_lost(load.sent)
        assert counts.notices > 0
        assert (counts.taken_up, counts.restarts) == (0, 0)
        for hub in cluster.hubs:  # one line when the outage starts (and ends), no failure per reply
            replies = [line for line in hub.output().splitlines() if "server.replies" in line]
            assert [line for line in replies if "failed" in line or "ERROR" in line] == []
            assert sum("the database is not answering (" in line for line in replies) <= 2
    except BaseException:
        print(cluster.logs())
        raise
