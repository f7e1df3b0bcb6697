"""Replica chat: a user's conversations with replicas, over the socket and ``POST /api/conversations``.

A turn (store the message, apply its task command, run the reply) is :class:`~server.context.conversation.
Conversations`, below the services, which the prototypes that talk to a replica share; this service adds the
history and the replay a socket resumes with.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from protocol import StoredMessage

from ..context.conversation import Accepted, Conversation, Conversations
from ..replies import Reply
from ..sensay.client import Replica
from ..store import conversations

__all__ = ["Accepted", "ChatService", "Conversation", "Replica"]


class ChatService:
    def __init__(self, turns: Conversations) -> None:
        self.turns = turns
        self.pool = turns.pool

    async def send(self, user_id: UUID, replica_id: str, content: str, client_id: str | None) -> Accepted:
        """Store the user's message, once per client id (:meth:`Conversations.send`)."""
        return await self.turns.send(user_id, replica_id, content, client_id)

    async def deliver(self, accepted: Accepted) -> asyncio.Task[Reply]:
        """Show a newly stored message on every socket of its user, and start (or join) its reply."""
        return await self.turns.deliver(accepted)

    async def converse(self, user_id: UUID, replica_id: str, content: str, client_id: str | None) -> Conversation:
        """Send a message and wait for the reply (for clients without a socket; :meth:`Conversations.converse`)."""
        return await self.turns.converse(user_id, replica_id, content, client_id)

    async def history(
        self, user_id: UUID, replica_id: str | None, *, before: int | None, limit: int
    ) -> list[StoredMessage]:
        """The user's messages, newest first: one stream paged by ``before`` (a seq), or all streams by time."""
        found = await conversations.list_messages(self.pool, user_id, replica_id, before=before, limit=limit)
        return [m.wire() for m in found]

    async def latest_seq(self, user_id: UUID, replica_id: str) -> int:
        """The seq of the newest message of the user's stream with the replica (0 when empty).

        An empty stream of a replica that does not exist is :class:`~server.errors.ReplicaNotFound` (a stored
        stream stays resumable even when its replica is gone)."""
        latest = await conversations.latest_seq(self.pool, user_id, replica_id)
        if latest == 0:
            await self.turns.replicas.require(str(user_id), replica_id)
        return latest

    async def replicas(self, user_id: UUID) -> tuple[list[Replica], str | None]:
        """The replicas the user can chat with, and the one to chat with by default (``None``: none)."""
        available = await self.turns.replicas.available(str(user_id))
        return available, await self.turns.replicas.default_replica_id(str(user_id), available)

    async def replay(self, user_id: UUID, replica_id: str, after: int, limit: int) -> list[StoredMessage]:
        """The stream's messages after seq ``after``, oldest first (for resume)."""
        found = await conversations.messages_after(self.pool, user_id, replica_id, after, limit)
        return [m.wire() for m in found]
