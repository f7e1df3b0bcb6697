"""The hub: sockets keyed by user, fan-out through the broker, delivery to local sockets."""

from __future__ import annotations

import asyncio
import json
import logging
from uuid import UUID

from protocol import CloseCode, ServerFrame, encode_text

from ..broker import Broker
from .connection import Connection, ConnectionState

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "hub.control"


def user_channel(user_id: UUID) -> str:
    return f"user:{user_id}"


class Hub:
    """Routes encoded frames to every socket of a user, on every process that shares the broker.

    A frame is encoded once per fan-out and the same string is queued on each socket.
    """

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._all: set[Connection] = set()
        self._channels: dict[str, set[Connection]] = {}
        self._lock = asyncio.Lock()
        self.accepting = True

    async def start(self) -> None:
        await self.broker.connect(self._deliver)
        await self.broker.subscribe(CONTROL_CHANNEL)

    async def stop(self) -> None:
        await self.broker.disconnect()

    # -- membership ------------------------------------------------------------------------------

    async def register(self, conn: Connection) -> None:
        """Add an authenticated connection; from now on it receives its user's frames."""
        conn.transition(ConnectionState.OPEN)
        await self._join(user_channel(conn.user_id), conn)
        self._all.add(conn)

    async def unregister(self, conn: Connection) -> None:
        if conn.state is ConnectionState.CLOSED:
            return
        was_open = conn.state is ConnectionState.OPEN
        conn.transition(ConnectionState.CLOSED)
        if conn.expiry is not None:
            conn.expiry.cancel()
        if not was_open:
            return
        self._all.discard(conn)
        for channel in [user_channel(conn.user_id), *conn.rooms]:
            await self._leave(channel, conn)

    async def join_channel(self, channel: str, conn: Connection) -> None:
        await self._join(channel, conn)
        conn.rooms.add(channel)

    async def leave_channel(self, channel: str, conn: Connection) -> None:
        conn.rooms.discard(channel)
        await self._leave(channel, conn)

    async def _join(self, channel: str, conn: Connection) -> None:
        async with self._lock:
            members = self._channels.get(channel)
            if members is None:
                members = self._channels[channel] = set()
                await self.broker.subscribe(channel)
            members.add(conn)

    async def _leave(self, channel: str, conn: Connection) -> None:
        async with self._lock:
            members = self._channels.get(channel)
            if members is None:
                return
            members.discard(conn)
            if not members:
                del self._channels[channel]
                await self.broker.unsubscribe(channel)

    def connections(self, user_id: UUID) -> frozenset[Connection]:
        return self.channel_members(user_channel(user_id))

    def channel_members(self, channel: str) -> frozenset[Connection]:
        return frozenset(self._channels.get(channel, ()))

    @property
    def connection_count(self) -> int:
        return len(self._all)

    # -- sending ---------------------------------------------------------------------------------

    async def send_to_user(self, user_id: UUID, frame: ServerFrame) -> None:
        """Deliver a frame to every socket of the user, wherever it is connected."""
        await self.broker.publish(user_channel(user_id), encode_text(frame))

    async def send_to_channel(self, channel: str, frame: ServerFrame) -> None:
        await self.broker.publish(channel, encode_text(frame))

    def send_local(self, user_id: UUID, frame: ServerFrame) -> None:
        """Deliver to the user's sockets on this process only (for sources every process sees, like the feed)."""
        self._deliver(user_channel(user_id), encode_text(frame))

    def broadcast_local(self, frame: ServerFrame) -> None:
        """Deliver to every socket on this process."""
        payload = encode_text(frame)
        for conn in self._all:
            conn.send(payload)

    def _deliver(self, channel: str, payload: str) -> None:
        if channel == CONTROL_CHANNEL:
            self._control(payload)
            return
        for conn in self._channels.get(channel, ()):
            conn.send(payload)

    # -- sessions and shutdown -------------------------------------------------------------------

    async def end_session(self, user_id: UUID, session_id: UUID) -> None:
        """Close, on every process, the sockets authenticated by a session that was logged out."""
        message = json.dumps({"op": "end_session", "user_id": str(user_id), "session_id": str(session_id)})
        await self.broker.publish(CONTROL_CHANNEL, message)

    def _control(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("op") == "end_session":
                user_id, session_id = UUID(message["user_id"]), UUID(message["session_id"])
            else:
                return
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring malformed hub control message")
            return
        for conn in self.connections(user_id):
            if conn.principal is not None and conn.principal.session_id == session_id:
                conn.close(CloseCode.SESSION_REVOKED, "session ended")

    async def drain(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every socket with 1012 and wait (bounded) for the closes to finish."""
        self.accepting = False
        everyone = list(self._all)
        for conn in everyone:
            conn.close(CloseCode.SERVICE_RESTART, "server restarting")
        if everyone:
            await asyncio.wait([asyncio.ensure_future(c.closed()) for c in everyone], timeout=timeout)
