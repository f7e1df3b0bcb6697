"""The Realtime service: joined channels of this process, ``postgres_changes`` from the change feed, and
broadcast and presence between processes through the broker.

Broadcasts and presence take one path whatever the broker: published to the topic's broker channel and
delivered to this process's channels when the broker hands them back (the memory broker at once, Redis to every
process), so two hubs on one Redis see each other's. A process that starts hearing a topic asks the others for
their presence on it; a broker gap on a topic forgets the other processes' entries and asks again, and tells the
channels there that broadcasts may have been missed.

Changes come from the hub's own change feed (one LISTEN per process): each is read back acting as each
subscriber, so row-level security decides who hears of it. A DELETE carries only the primary key and goes only to
its owner's channels (the row is gone, so no policy can be asked; the owner is the one every policy admits).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections import defaultdict
from functools import partial
from typing import Any, Final

import asyncpg

from ..broker import Broker, Gap
from ..feed.base import TABLES, Change
from ..logs import log_task_failure
from ..store import realtime as rows
from .channel import Channel
from .presence import Entry, TopicPresence
from .tokens import SESSION_ENDED

logger = logging.getLogger(__name__)

MAX_PENDING_CHANGES: Final = 10_000
"""Changes waiting to be read back and sent; beyond this they are dropped and the channels told so."""
BROADCASTS_MISSED: Final = "broadcasts on this channel may have been missed (the broker lost messages)"
CHANGES_DROPPED: Final = "changes were dropped (the server fell behind); re-fetch the tables"
SUBSCRIBED: Final = "Subscribed to PostgreSQL"
READERS: Final = 4
"""Rows read back at once for one change (one per distinct subscriber), leaving the pool to the rest of the hub."""
PRESENCE_BEAT: Final = 10.0
"""Seconds between a process's "alive" on each topic it has presence on; after three missed, its entries leave."""


def broker_channel(topic: str) -> str:
    return f"supabase-realtime/{topic}"


class Realtime:
    def __init__(self, broker: Broker, pool: asyncpg.Pool, *, presence_beat: float = PRESENCE_BEAT) -> None:
        self.broker = broker
        self.pool = pool
        self.presence_beat = presence_beat
        self.node = uuid.uuid4().hex
        self._topics: dict[str, set[Channel]] = defaultdict(set)
        self._presence: dict[str, TopicPresence] = defaultdict(TopicPresence)
        self._columns: dict[str, list[dict[str, str]]] = {}
        self._changes: asyncio.Queue[Change] = asyncio.Queue(MAX_PENDING_CHANGES)
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._readers = asyncio.Semaphore(READERS)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        for table in TABLES:
            self._columns[table] = await rows.columns(self.pool, table)
        await self.broker.connect(self._heard, self._gapped)
        self._worker = asyncio.create_task(self._deliver_changes(), name="realtime-changes")
        self._worker.add_done_callback(partial(log_task_failure, logger))
        self._beat = asyncio.create_task(self._beat_presence(), name="realtime-presence-beat")
        self._beat.add_done_callback(partial(log_task_failure, logger))

    async def stop(self) -> None:
        for topic, book in self._presence.items():  # other processes forget this one's presence
            mine = [entry.ref for entry in book.of_node(self.node)]
            if mine:
                with contextlib.suppress(Exception):
                    await self._publish(topic, {"k": "presence", "joins": [], "leaves": mine})
        tasks = [t for t in (self._worker, self._beat, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.broker.disconnect()

    # -- channels --------------------------------------------------------------------------------

    def channels(self, topic: str) -> set[Channel]:
        return self._topics.get(topic, set())

    async def attach(self, channel: Channel) -> None:
        """Start delivering the topic's broadcasts, presence and changes to ``channel``."""
        first = channel.topic not in self._topics
        self._topics[channel.topic].add(channel)
        if first:
            await self.broker.subscribe(broker_channel(channel.topic))
            await self._publish(channel.topic, {"k": "sync"})

    async def detach(self, channel: Channel) -> None:
        """Stop delivering to ``channel``; its presence leaves (the others hear it, the channel itself does not)."""
        here = self._topics.get(channel.topic)
        if here is None or channel not in here:
            return
        here.discard(channel)
        await self.untrack(channel)
        if not here:
            del self._topics[channel.topic]
            self._presence.pop(channel.topic, None)  # no longer heard: it would go stale
            await self.broker.unsubscribe(broker_channel(channel.topic))

    async def end_session(self, session_id: uuid.UUID) -> None:
        """A session was logged out (on any process): its channels here end, as its ``/ws`` sockets close."""
        ended = str(session_id)
        for channel in [c for topic in self._topics.values() for c in topic]:
            if channel.claims.raw.get("session_id") == ended and channel.shut is not None:
                await channel.shut(SESSION_ENDED)

    def presence_state(self, channel: Channel) -> dict[str, Any]:
        return self._presence[channel.topic].state()

    # -- broadcast and presence ------------------------------------------------------------------

    async def broadcast(self, channel: Channel, event: str, payload: Any) -> None:
        """Send to every channel on the topic, in every process (to the sender too when it joined with ``self``)."""
        message: dict[str, Any] = {"k": "broadcast", "from": channel.id, "echo": channel.self_broadcast, "event": event}
        if isinstance(payload, bytes):
            message["bytes"] = base64.b64encode(payload).decode()
        else:
            message["payload"] = payload
        await self._publish(channel.topic, message)

    async def track(self, channel: Channel, meta: dict[str, Any]) -> None:
        ref = secrets.token_urlsafe(9)
        leaves = [channel.presence_ref] if channel.presence_ref else []
        if channel.presence_ref:
            meta = {**meta, "phx_ref_prev": channel.presence_ref}
        channel.presence_ref = ref
        channel.presence_enabled = True
        await self._publish(
            channel.topic, {"k": "presence", "joins": [[ref, channel.presence_key, meta]], "leaves": leaves}
        )

    async def untrack(self, channel: Channel) -> None:
        if channel.presence_ref is None:
            return
        ref, channel.presence_ref = channel.presence_ref, None
        await self._publish(channel.topic, {"k": "presence", "joins": [], "leaves": [ref]})

    async def _publish(self, topic: str, message: dict[str, Any]) -> None:
        await self.broker.publish(broker_channel(topic), json.dumps({**message, "node": self.node}))

    def _heard(self, broker_topic: str, raw: str) -> None:
        topic = broker_topic.removeprefix("supabase-realtime/")
        try:
            self._dispatch(topic, json.loads(raw))
        except (ValueError, KeyError, TypeError):  # not one of ours: say so, and let the others through
            logger.exception("realtime: unreadable broker message on %s", topic[:100])

    def _dispatch(self, topic: str, message: dict[str, Any]) -> None:
        kind = message.get("k")
        if topic in self._topics:
            self._presence[topic].heard[message["node"]] = time.monotonic()
        if kind == "broadcast":
            self._deliver_broadcast(topic, message)
        elif kind == "presence":
            joins = [Entry(ref, key, meta, message["node"]) for ref, key, meta in message["joins"]]
            self._presence_changed(topic, joins, message["leaves"])
        elif kind == "sync" and message["node"] != self.node:
            self._spawn(self._answer_sync(topic))

    def _deliver_broadcast(self, topic: str, message: dict[str, Any]) -> None:
        raw = base64.b64decode(message["bytes"]) if "bytes" in message else None
        for channel in list(self.channels(topic)):
            if channel.id == message["from"] and not message["echo"]:
                continue
            channel.broadcast(message["event"], message.get("payload"), raw)

    def _presence_changed(self, topic: str, joins: list[Entry], leaves: list[str]) -> None:
        if topic not in self._topics:
            return
        diff = self._presence[topic].apply(joins, leaves)
        if diff:
            payload = diff.payload()
            for channel in list(self.channels(topic)):
                if channel.presence_enabled:
                    channel.push("presence_diff", payload)

    async def _beat_presence(self) -> None:
        """Say this process is alive where it has presence; forget the presence of processes gone silent."""
        while True:
            await asyncio.sleep(self.presence_beat)
            now = time.monotonic()
            for topic in list(self._topics):
                book = self._presence[topic]
                if book.of_node(self.node):
                    await self._publish(topic, {"k": "alive"})
                for node in book.silent(now, 3 * self.presence_beat, self.node):
                    logger.warning("realtime: presence of a silent process on %s leaves", topic)
                    self._presence_changed(topic, [], [entry.ref for entry in book.of_node(node)])

    async def _answer_sync(self, topic: str) -> None:
        mine = self._presence[topic].of_node(self.node) if topic in self._topics else []
        if mine:
            joins = [[entry.ref, entry.key, entry.meta] for entry in mine]
            await self._publish(topic, {"k": "presence", "joins": joins, "leaves": []})

    def _gapped(self, gap: Gap) -> None:
        reason = gap.reason
        for broker_topic in gap.channels:
            topic = broker_topic.removeprefix("supabase-realtime/")
            if topic not in self._topics:
                continue
            logger.warning("realtime: broker gap on %s (%s)", topic, reason)
            for channel in list(self.channels(topic)):
                channel.system("error", BROADCASTS_MISSED)
            book = self._presence[topic]
            others = [entry.ref for entry in book.entries.values() if entry.node != self.node]
            self._presence_changed(topic, [], others)
            # Ask the others for theirs, and tell them ours: whichever process heard the broker back last hears
            # the other's announcement (the earlier one's went out while it was still away).
            self._spawn(self._publish(topic, {"k": "sync"}))
            self._spawn(self._answer_sync(topic))

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name="realtime-publish")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(partial(log_task_failure, logger))

    # -- postgres_changes ------------------------------------------------------------------------

    async def on_change(self, change: Change) -> None:
        """The change feed's listener: queue the change; never blocks the feed."""
        try:
            self._changes.put_nowait(change)
        except asyncio.QueueFull:
            logger.error("realtime: %d changes pending; dropping one and telling subscribers", MAX_PENDING_CHANGES)
            await self.on_gap(CHANGES_DROPPED)

    async def on_gap(self, reason: str) -> None:
        """The change feed may have missed changes: every subscriber hears it, then that it is subscribed again."""
        for channel in self._subscribers():
            channel.system("error", reason, "postgres_changes")
            channel.system("ok", SUBSCRIBED, "postgres_changes")

    def _subscribers(self) -> list[Channel]:
        return [c for topic in self._topics.values() for c in topic if c.bindings]

    async def _deliver_changes(self) -> None:
        while True:
            change = await self._changes.get()
            try:
                await self._fan_out(change)
            except Exception:  # one change must not stop the others
                logger.exception("realtime: failed to deliver a %s on %s", change.op, change.table)

    async def _fan_out(self, change: Change) -> None:
        wanting = [c for c in self._subscribers() if any(b.wants(change.table, change.op) for b in c.bindings)]
        if not wanting:
            return
        key = change.record if change.record is not None else change.old_record
        assert key is not None
        row_id = uuid.UUID(str(key["id"]))
        old = {"id": str(row_id)} if change.op != "INSERT" else None
        seen: dict[tuple[str, uuid.UUID | None], dict[str, Any] | None] = {}
        if change.op == "DELETE":
            wanting = [c for c in wanting if c.claims.sub == change.user_id]
        else:
            groups = {(c.claims.role, c.claims.sub): c.claims.raw for c in wanting}

            async def read(claims: dict[str, Any]) -> dict[str, Any] | None:
                async with self._readers:
                    return await rows.read_as(self.pool, change.table, row_id, claims)

            found = await asyncio.gather(*(read(raw) for raw in groups.values()))
            seen = dict(zip(groups, found, strict=True))
        for channel in wanting:
            record = seen.get((channel.claims.role, channel.claims.sub))
            if change.op != "DELETE" and record is None:
                continue  # the subscriber may not see the row (or it is gone already)
            ids = [
                b.id for b in channel.bindings if b.wants(change.table, change.op) and b.matches(change.op, record, old)
            ]
            if not ids:
                continue
            data: dict[str, Any] = {
                "schema": "public",
                "table": change.table,
                "commit_timestamp": change.commit_timestamp,
                "type": change.op,
                "columns": self._columns.get(change.table, []),
                "errors": None,
            }
            if record is not None:
                data["record"] = record
            if old is not None:
                data["old_record"] = old
            channel.push("postgres_changes", {"ids": ids, "data": data})
