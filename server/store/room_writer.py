"""Group commit for room messages: concurrent sends share one statement and one commit.

Each commit waits for PostgreSQL's WAL flush, so a commit per message caps a room server at the disk's flush
rate; sharing commits lifts that cap and costs no latency when idle. While a batch is being stored, new
messages queue; when it commits, the queue (up to ``max_batch``) goes as the next batch. A lone message is
stored at once, alone. Every message is answered only after its batch committed.

A batch that fails is retried message by message, so one bad message (a raced client id, a vanished user)
fails alone and its neighbours are stored as if they had been sent on their own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import asyncpg

from .rooms import NewRoomMessage, Stored, insert_messages, store_message

logger = logging.getLogger(__name__)

MAX_BATCH: Final = 128
"""Most messages per statement: enough for thousands a second at a few ms per commit."""

_Key = tuple[object, ...]
_Waiting = tuple[NewRoomMessage, "asyncio.Future[Stored]"]


class RoomMessageWriter:
    """Stores room messages in batches, one batch in flight per process; see the module's docstring."""

    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: list[_Waiting] = []
        self._storing: list[_Waiting] = []
        self._by_key: dict[_Key, asyncio.Future[Stored]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, message: NewRoomMessage) -> Stored:
        """Store ``message`` (in the next batch); what :func:`rooms.append_message` would answer."""
        key = _key(message)
        if key is not None and (first := self._by_key.get(key)) is not None:
            # The same client id twice in one batch: the second is a repeat of the first.
            stored, _ = await asyncio.shield(first)
            return stored, True
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.append((message, future))
        if key is not None:
            self._by_key[key] = future
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a cancelled sender neither cancels its message (its batch still stores it) nor the answer a
        # repeat of its client id in the same batch is waiting for.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                for message, _ in batch:
                    if (key := _key(message)) is not None:
                        self._by_key.pop(key, None)
                self._storing = batch
                await self._store(batch)
                self._storing = []
        except BaseException as exc:
            # Only a bug or a cancellation (shutdown) gets here: each message's own failure went to its sender.
            self._fail_waiting(exc)
            if not isinstance(exc, Exception):
                raise
            logger.error("the room message writer failed", exc_info=exc)
        finally:
            # Here, not in a done callback: a message queued between this task's end and its callback would
            # otherwise find a flusher that no longer runs.
            self._flusher = None

    def _fail_waiting(self, exc: BaseException) -> None:
        for _, future in [*self._storing, *self._queue]:
            if future.done():
                continue
            if isinstance(exc, Exception):
                future.set_exception(exc)
            else:
                future.cancel()
        self._storing, self._queue = [], []
        self._by_key.clear()

    async def _store(self, batch: list[_Waiting]) -> None:
        try:
            results = await insert_messages(self._pool, [message for message, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                logger.info("a batch of %d room messages failed (%r); storing them one by one", len(batch), exc)
            await asyncio.gather(*(self._store_one(message, future) for message, future in batch))
            return
        for (message, future), stored in zip(batch, results, strict=True):
            if stored is None:
                await self._store_one(message, future)  # raises the store's own NotFound for it
            elif not future.done():
                future.set_result(stored)

    async def _store_one(self, message: NewRoomMessage, future: asyncio.Future[Stored]) -> None:
        try:
            stored = await store_message(self._pool, message)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(stored)


def _key(message: NewRoomMessage) -> _Key | None:
    if message.client_id is None or message.user_id is None:
        return None
    return (message.room_id, message.user_id, message.client_id)
