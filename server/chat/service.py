"""Replica chat: store the user's message, ack it, have the replica answer, stream and store the answer.

The socket and ``POST /api/conversations`` share this code path. A reply runs in a task owned by the
service, not by a socket, so it is finished and stored even when every socket of the user is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID

import asyncpg

from protocol import ErrorCode, ErrorFrame, ReplyDeltaFrame, chat_stream

from ..hub.frames import message_frame
from ..hub.hub import Hub
from ..prototypes.bonding_replicas import memory_context
from ..sensay.client import SensayClient
from ..sensay.errors import SensayBadRequest, SensayError, SensayNotFound
from ..store import conversations
from ..store.records import Message

logger = logging.getLogger(__name__)

REPLICA_CACHE_SECONDS = 300.0


class UnknownReplica(Exception):
    """The replica does not exist for this user."""


class ReplyFailed(Exception):
    """The replica could not answer; ``retryable`` says whether sending the same id again may help."""

    def __init__(self, message: str, *, retryable: bool, code: ErrorCode) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class ChatService:
    def __init__(self, pool: asyncpg.Pool, sensay: SensayClient, hub: Hub, *, reply_timeout: float = 120.0) -> None:
        self.pool = pool
        self.sensay = sensay
        self.hub = hub
        self.reply_timeout = reply_timeout
        self._inflight: dict[UUID, asyncio.Task[Message]] = {}
        self._known: dict[tuple[UUID, str], float] = {}

    async def accept(self, user_id: UUID, replica_id: str, content: str, client_id: str | None) -> tuple[Message, bool]:
        """Store the user's message, once per client id; return it and whether it was stored before.

        Raises :class:`UnknownReplica` (or a ``SensayError``) before storing anything when the replica
        cannot be found.
        """
        await self._check_replica(user_id, replica_id)
        return await conversations.append_user_message(self.pool, user_id, replica_id, content, client_id)

    async def deliver(self, message: Message, duplicate: bool) -> asyncio.Task[Message]:
        """Show a newly stored message on every socket of its user, and start (or join) its reply."""
        if not duplicate:
            await self.hub.send_to_user(message.user_id, message_frame(message))
        return self.reply_to(message)

    def reply_to(self, message: Message) -> asyncio.Task[Message]:
        """The task producing the reply to ``message``: the running one, or a new one."""
        task = self._inflight.get(message.id)
        if task is None:
            task = asyncio.create_task(self._reply(message), name=f"reply-{message.id}")
            self._inflight[message.id] = task
            task.add_done_callback(lambda t: self._finished(message.id, t))
        return task

    def _finished(self, message_id: UUID, task: asyncio.Task[Message]) -> None:
        self._inflight.pop(message_id, None)
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported as "never retrieved"

    async def _reply(self, question: Message) -> Message:
        existing = await conversations.get_reply(self.pool, question.id)
        if existing is not None:
            return existing
        stream = chat_stream(question.replica_id)
        # Memories shared by the replica's bonds (the bonding prototype) travel with the user's message.
        context = await memory_context(self.pool, question.user_id, question.replica_id)
        content = f"{context}\n\n{question.message}" if context else question.message
        parts: list[str] = []
        try:
            async with asyncio.timeout(self.reply_timeout):
                async for delta in self.sensay.chat_stream(str(question.user_id), question.replica_id, content):
                    await self.hub.send_to_user(
                        question.user_id,
                        ReplyDeltaFrame(
                            stream=stream,
                            reply_to=str(question.id),
                            replica_id=question.replica_id,
                            index=len(parts),
                            text=delta,
                        ),
                    )
                    parts.append(delta)
        except (SensayError, TimeoutError) as exc:
            retryable = isinstance(exc, TimeoutError) or exc.retryable
            code = ErrorCode.REPLICA_UNAVAILABLE if retryable else ErrorCode.REPLICA_REJECTED
            logger.warning("replica %s failed to answer message %s: %s", question.replica_id, question.id, exc)
            await self.hub.send_to_user(
                question.user_id,
                ErrorFrame(
                    code=code,
                    message="the replica could not answer; send the same id again to retry"
                    if retryable
                    else "the replica refused to answer this message",
                    id=question.client_id,
                    retryable=retryable,
                    stream=stream,
                ),
            )
            raise ReplyFailed(str(exc), retryable=retryable, code=code) from exc
        reply, _ = await conversations.append_reply(self.pool, question, "".join(parts))
        await self.hub.send_to_user(question.user_id, message_frame(reply))
        return reply

    async def _check_replica(self, user_id: UUID, replica_id: str) -> None:
        key = (user_id, replica_id)
        if self._known.get(key, 0.0) > time.monotonic():
            return
        try:
            await self.sensay.get_replica(str(user_id), replica_id)
        except (SensayNotFound, SensayBadRequest) as exc:  # Sensay answers 400 to an id that is not a UUID
            raise UnknownReplica(replica_id) from exc
        if len(self._known) > 100_000:
            self._known.clear()
        self._known[key] = time.monotonic() + REPLICA_CACHE_SECONDS

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for replies in flight to be stored, so a restart loses none of them."""
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
