"""What the server API does through the hub, on every process: disconnect a user, and answer questions about
the sockets each process holds (a room's presence, a user's connections).

Questions travel as control messages and every process answers on the control channel too; the asker gathers
the answers for a short window, since no process knows how many others share the broker. With the in-process
broker there is only this process, so its own answer is the whole of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from typing import Final, Literal
from uuid import UUID

import msgspec

from protocol import CloseCode

from .. import metrics
from ..broker.memory import MemoryBroker
from .hub import ControlMessage, Hub

GATHER_SECONDS: Final = 0.3
"""How long an asker waits for the other processes' answers."""

PROCESS: Final = f"{socket.gethostname()}:{os.getpid()}"


class DisconnectUser(ControlMessage, tag="disconnect_user", frozen=True):
    """Close every socket of the user with 4011."""

    user_id: UUID
    reason: str


class ConnectionInfo(msgspec.Struct, frozen=True, kw_only=True):
    connection_id: str
    process: str
    connected_at: float
    rooms: list[str]


class Inquiry(ControlMessage, tag="inquiry", frozen=True):
    """Asks every process about its sockets: ``presence`` of a room, or ``connections`` of a user."""

    query_id: str
    kind: Literal["presence", "connections"]
    subject: str


class Answer(ControlMessage, tag="inquiry_answer", frozen=True):
    query_id: str
    user_ids: list[str] = []
    connections: list[ConnectionInfo] = []


class Operators:
    """The cross-process side of the server API, on top of one process's hub."""

    def __init__(self, hub: Hub, *, window: float = GATHER_SECONDS) -> None:
        self.hub = hub
        self.window = window
        self._pending: dict[str, tuple[list[Answer], asyncio.Event]] = {}
        hub.on_control(DisconnectUser, self._disconnect_here)
        hub.on_control(Inquiry, self._answer)
        hub.on_control(Answer, self._collect)

    async def disconnect(self, user_id: UUID, reason: str) -> None:
        await self.hub.publish_control(DisconnectUser(user_id=user_id, reason=reason))

    async def presence(self, room_id: UUID) -> list[str]:
        """The users with a socket in the room, over every process."""
        answers = await self._ask("presence", str(room_id))
        return sorted({user for answer in answers for user in answer.user_ids})

    async def connections(self, user_id: UUID) -> list[ConnectionInfo]:
        """The user's sockets, over every process, oldest first."""
        answers = await self._ask("connections", str(user_id))
        return sorted((c for answer in answers for c in answer.connections), key=lambda c: c.connected_at)

    async def _ask(self, kind: Literal["presence", "connections"], subject: str) -> list[Answer]:
        query_id = uuid.uuid4().hex
        answers: list[Answer] = []
        first = asyncio.Event()
        self._pending[query_id] = (answers, first)
        try:
            await self.hub.publish_control(Inquiry(query_id=query_id, kind=kind, subject=subject))
            if isinstance(self.hub.broker, MemoryBroker):  # one process: its own answer is all there is
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.window):
                        await first.wait()
            else:
                await asyncio.sleep(self.window)
        finally:
            del self._pending[query_id]
        return answers

    async def _answer(self, inquiry: Inquiry) -> None:
        if inquiry.kind == "presence":
            users = sorted(str(u) for u in self.hub.present_here(inquiry.subject))
            answer = Answer(query_id=inquiry.query_id, user_ids=users)
        else:
            conns = self.hub.connections(UUID(inquiry.subject))
            infos = [
                ConnectionInfo(connection_id=c.id, process=PROCESS, connected_at=c.opened_at, rooms=sorted(c.rooms))
                for c in conns
            ]
            answer = Answer(query_id=inquiry.query_id, connections=infos)
        await self.hub.publish_control(answer)

    async def _collect(self, answer: Answer) -> None:
        pending = self._pending.get(answer.query_id)
        if pending is not None:  # answers to another process's question are not ours
            pending[0].append(answer)
            pending[1].set()

    async def _disconnect_here(self, message: DisconnectUser) -> None:
        for conn in self.hub.connections(message.user_id):
            metrics.CLOSES.labels("disconnected").inc()
            conn.close(CloseCode.DISCONNECTED, message.reason)
