"""The embedded change feed: triggers call ``pg_notify`` and one dedicated connection LISTENs.

If the listening connection is lost (a restart, ``pg_terminate_backend``, a network cut), the feed
reconnects with backoff and reports a gap, so clients re-fetch instead of silently missing changes:
PostgreSQL does not queue notifications for a listener that was not connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from uuid import UUID

import asyncpg

from .base import TABLES, Change, ChangeFeed, OnChange, OnGap, count_change, count_gap

logger = logging.getLogger(__name__)

CHANNEL = "sensay_changes"
APPLICATION_NAME = "sensay-hub change feed"
_READ_BACK = {
    "tasks": (
        "SELECT id, user_id, number, description, status, due_at, reminded_at, created_at, updated_at FROM tasks"
        " WHERE id = $1"
    ),
    "prototype_interactions": (
        "SELECT id, user_id, prototype, interaction_type, details, created_at FROM prototype_interactions WHERE id = $1"
    ),
}


class PostgresFeed(ChangeFeed):
    def __init__(self, dsn: str, pool: asyncpg.Pool, *, check_interval: float = 2.0, max_backoff: float = 10.0) -> None:
        self.dsn = dsn
        self.pool = pool  # reads rows back; the listening connection does nothing else
        self.check_interval = check_interval
        self.max_backoff = max_backoff
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._conn: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lost = asyncio.Event()

    async def start(self, on_change: OnChange, on_gap: OnGap) -> None:
        await self._listen()
        self._tasks = [
            asyncio.create_task(self._deliver(on_change), name="feed-deliver"),
            asyncio.create_task(self._watch(on_gap), name="feed-watch"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": APPLICATION_NAME})
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn
        self._lost.clear()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._queue.put_nowait(str(payload))

    async def _watch(self, on_gap: OnGap) -> None:
        """Notice a lost listener (termination callback, or a failed probe) and reconnect."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_interval):
                    await self._lost.wait()
            if not self._lost.is_set() and not await self._probe():
                self._lost.set()
            if not self._lost.is_set():
                continue
            logger.warning("change feed: listening connection lost; reconnecting")
            await self._reconnect()
            count_gap("postgres")
            await on_gap("the change feed reconnected; changes may have been missed")

    async def _probe(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await conn.fetchval("SELECT 1", timeout=self.check_interval)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def _reconnect(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
        delay = 0.1
        while True:
            try:
                await self._listen()
                return
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                logger.warning("change feed: reconnect failed (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    async def _deliver(self, on_change: OnChange) -> None:
        while True:
            payload = await self._queue.get()
            try:
                change = await self._resolve(payload)
                if change is not None:
                    count_change(change, "postgres")
                    await on_change(change)
            except Exception:  # one bad change must not stop the feed
                logger.exception("change feed: failed to deliver %s", payload[:200])

    async def _resolve(self, payload: str) -> Change | None:
        note: dict[str, Any] = json.loads(payload)
        table, op = note["table"], note["op"]
        if table not in TABLES or op not in ("INSERT", "UPDATE", "DELETE"):
            return None
        key = {"id": note["id"], "user_id": note["user_id"]}
        at = note.get("at")  # since migration 040
        if op == "DELETE":
            return Change(table, op, UUID(note["user_id"]), None, key, at)
        row = await self.pool.fetchrow(_READ_BACK[table], UUID(note["id"]))
        if row is None:
            return None  # deleted meanwhile: its DELETE notification follows
        return Change(table, op, row["user_id"], dict(row), None, at)
