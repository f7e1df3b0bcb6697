"""The hub: sockets keyed by user, fan-out through the broker, delivery to local sockets."""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from protocol import (
    CloseCode,
    MessageFrame,
    ResyncFrame,
    RoomJoinedFrame,
    RoomLeftFrame,
    RoomPresenceFrame,
    ServerFrame,
    encode_text,
    parse_stream,
    room_stream,
)

from .. import metrics
from ..broker import Broker, Gap, Position
from ..broker.presence import MemoryPresence, Presence
from ..logs import log_task_failure
from .connection import Connection, ConnectionState, Outgoing

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "hub.control"

_MESSAGE_PREFIX = '{"type":"message",'
"""How an encoded ``message`` frame starts (msgspec writes the tag first): only those are decoded for their seq."""


class _Placed(msgspec.Struct):
    stream: str
    seq: int


class _PlacedFrame(msgspec.Struct):
    message: _Placed


_placed = msgspec.json.Decoder(_PlacedFrame)


def _position(payload: str) -> Position | None:
    """The stream and seq of an encoded ``message`` frame; ``None`` for any other frame."""
    if not payload.startswith(_MESSAGE_PREFIX):
        return None
    try:
        message = _placed.decode(payload).message
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return message.stream, message.seq


def _frame_position(frame: ServerFrame) -> Position | None:
    return (frame.message.stream, frame.message.seq) if isinstance(frame, MessageFrame) else None


class ControlMessage(msgspec.Struct, tag_field="op", frozen=True, kw_only=True):
    """A message every process acts on (sent through the broker); subclasses are tagged by ``op``."""


class EndSession(ControlMessage, tag="end_session", frozen=True):
    """A session was logged out: close its sockets; ``expires_at`` (its tokens' ``exp``) bounds remembering it."""

    user_id: UUID
    session_id: UUID
    expires_at: int


C = TypeVar("C", bound=ControlMessage)
ControlHandler = Callable[[C], Coroutine[Any, Any, None]]


def user_channel(user_id: UUID) -> str:
    return f"user:{user_id}"


class Hub:
    """Routes encoded frames to every socket of a user, on every process that shares the broker.

    A frame is encoded and framed once per fan-out, and the same bytes are written to each socket.
    """

    def __init__(self, broker: Broker, presence: Presence | None = None) -> None:
        self.broker = broker
        self.presence = presence if presence is not None else MemoryPresence()
        self._all: set[Connection] = set()
        self._channels: dict[str, set[Connection]] = {}
        self._lock = asyncio.Lock()
        self._control_handlers: dict[type[ControlMessage], list[ControlHandler[Any]]] = {}
        self._control_decoder: msgspec.json.Decoder[Any] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._per_user: Counter[UUID] = Counter()
        self._per_address: Counter[str] = Counter()
        self._present: dict[str, Counter[UUID]] = {}  # room stream -> each present user's sockets here
        self.accepting = True
        self.on_control(EndSession, self._end_session_here)
        metrics.watch_hub(self)

    async def start(self) -> None:
        await self.broker.connect(self._deliver, self._gap, local_listener=self._deliver_here_only)
        await self.broker.subscribe(CONTROL_CHANNEL)
        await self.presence.start(self._present_here)

    async def stop(self) -> None:
        await self.presence.stop()
        await self.broker.disconnect()

    # -- membership ------------------------------------------------------------------------------

    def admit(self, address: str, limit: int) -> bool:
        """Count a new socket from ``address`` (authenticated or not); ``False`` when it would pass ``limit``.

        Every socket admitted is handed to :meth:`release` when it ends.
        """
        if self._per_address[address] >= limit:
            return False
        self._per_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    async def register(self, conn: Connection, *, max_per_user: int | None = None) -> bool:
        """Add an authenticated connection; from now on it receives its user's frames.

        ``False`` (and nothing added) when the user already has ``max_per_user`` sockets on this process.
        """
        user_id = conn.user_id
        if max_per_user is not None and self._per_user[user_id] >= max_per_user:
            return False
        self._per_user[user_id] += 1  # counted before the first await, so concurrent sockets see it
        conn.transition(ConnectionState.OPEN)
        await self._join(user_channel(user_id), conn)
        self._all.add(conn)
        return True

    async def unregister(self, conn: Connection) -> None:
        if conn.state is ConnectionState.CLOSED:
            return
        was_open = conn.state is ConnectionState.OPEN
        conn.transition(ConnectionState.CLOSED)
        if conn.expiry is not None:
            conn.expiry.cancel()
        if not was_open:
            return
        self._per_user[conn.user_id] -= 1
        if self._per_user[conn.user_id] <= 0:
            del self._per_user[conn.user_id]
        self._all.discard(conn)
        await self._leave(user_channel(conn.user_id), conn)
        for channel in list(conn.rooms):
            await self.leave_room(conn, parse_stream(channel)[1])

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
                await self.broker.subscribe(channel)  # first: if it raises, no socket is left on a dead channel
                members = self._channels[channel] = set()
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

    # -- rooms and presence (global through self.presence; joins and leaves fan out to all) -----------

    def present_here(self, room_id: str) -> set[UUID]:
        """Users with a socket in the room on this process."""
        return set(self._present.get(room_stream(room_id), ()))

    async def present(self, room_id: str) -> set[UUID]:
        """Users present in the room on any process."""
        return await self.presence.present(room_id)

    def _present_here(self) -> Iterator[tuple[str, UUID]]:
        for channel, users in list(self._present.items()):
            room_id = channel.partition(":")[2]
            yield from ((room_id, user_id) for user_id in list(users))

    async def join_room(self, conn: Connection, room_id: str, answer_to: str | None = None) -> None:
        """Subscribe the socket to the room; announce the user if this is their first socket there. The socket
        gets the room's presence, carrying ``answer_to`` (the id of the ``room.join`` it answers).

        O(1) per member: the room counts each user's sockets, so only the joiner gets the snapshot and the others
        a ``room.joined`` only when the user was not there yet.
        """
        channel = room_stream(room_id)
        first_here = False
        if channel not in conn.rooms:
            sockets = self._present.setdefault(channel, Counter())
            sockets[conn.user_id] += 1
            first_here = sockets[conn.user_id] == 1
            await self.join_channel(channel, conn)
        # Joined again (say after a resync) or not, the user's entry is written: Redis may have lost it.
        first, present = await self.presence.join(room_id, conn.user_id)
        if first and first_here:
            await self.send_to_channel(channel, RoomJoinedFrame(room_id=room_id, user_id=str(conn.user_id)))
        snapshot = RoomPresenceFrame(room_id=room_id, user_ids=sorted(str(u) for u in present), id=answer_to)
        conn.send(encode_text(snapshot))

    async def leave_room(self, conn: Connection, room_id: str) -> None:
        channel = room_stream(room_id)
        if channel not in conn.rooms:
            return
        await self.leave_channel(channel, conn)
        sockets = self._present.get(channel)
        if sockets is not None:
            sockets[conn.user_id] -= 1
            if sockets[conn.user_id] <= 0:
                del sockets[conn.user_id]
                if not sockets:
                    del self._present[channel]
        if conn.user_id not in self.present_here(room_id) and await self.presence.leave(room_id, conn.user_id):
            await self.send_to_channel(channel, RoomLeftFrame(room_id=room_id, user_id=str(conn.user_id)))

    def connections(self, user_id: UUID) -> frozenset[Connection]:
        return self.channel_members(user_channel(user_id))

    def channel_members(self, channel: str) -> frozenset[Connection]:
        return frozenset(self._channels.get(channel, ()))

    @property
    def connection_count(self) -> int:
        return len(self._all)

    def queue_depths(self) -> list[int]:
        """Frames waiting on each open socket (for the send-queue gauges)."""
        return [conn.queued for conn in self._all]

    # -- sending ---------------------------------------------------------------------------------

    async def send_to_user(self, user_id: UUID, frame: ServerFrame) -> None:
        """Deliver a frame to every socket of the user, wherever it is connected."""
        await self.broker.publish(user_channel(user_id), encode_text(frame), position=_frame_position(frame))

    async def send_to_channel(self, channel: str, frame: ServerFrame) -> None:
        await self.broker.publish(channel, encode_text(frame), position=_frame_position(frame))

    def send_local(self, user_id: UUID, frame: ServerFrame) -> None:
        """Deliver to the user's sockets on this process only (for sources every process sees, like the feed)."""
        self._deliver(user_channel(user_id), encode_text(frame))

    def broadcast_local(self, frame: ServerFrame) -> None:
        """Deliver to every socket on this process."""
        payload = encode_text(frame)
        metrics.DELIVERIES.labels("everyone").inc()
        self._write(self._all, payload)

    def _deliver(self, channel: str, payload: str) -> None:
        if channel == CONTROL_CHANNEL:
            self._control(payload)
            return
        metrics.DELIVERIES.labels(channel.partition(":")[0]).inc()
        members = self._channels.get(channel)
        if members:
            position = _position(payload)
            if position is not None:
                stream, seq = position
                for conn in members:
                    if conn.seen.get(stream, 0) < seq:
                        conn.seen[stream] = seq
            self._write(members, payload)

    def _deliver_here_only(self, channel: str, payload: str) -> None:
        """A publish of this process that failed: its sockets get it, but in no known order with the others' (whose
        frames are lost meanwhile), so it does not move their position; a stream first seen so starts at 0."""
        members = self._channels.get(channel)
        if members:
            position = _position(payload)
            if position is not None:
                for conn in members:
                    conn.seen.setdefault(position[0], 0)
            metrics.DELIVERIES.labels(channel.partition(":")[0]).inc()
            self._write(members, payload)

    @staticmethod
    def _write(members: Iterable[Connection], payload: str) -> None:
        """Frame once, hand the same bytes to every member (written at once unless its transport pushes back)."""
        frame = Outgoing(payload)
        sent = 0
        for conn in members:
            sent += conn.send_frame(frame)
        if sent:
            metrics.FRAMES_SENT.labels(metrics.frame_type(payload)).inc(sent)

    # -- broker gaps -----------------------------------------------------------------------------

    def _gap(self, gap: Gap) -> None:
        """Frames on the gap's channels may have been lost: one ``resync`` to each local socket on any of them,
        naming per stream the seq to resume from."""
        missed: dict[Connection, list[str]] = {}
        for channel in gap.channels:
            for conn in self._channels.get(channel, ()):
                missed.setdefault(conn, []).append(channel)
        for conn, names in missed.items():
            rooms = sorted(name for name in names if name.startswith("room:"))
            all_chats = user_channel(conn.user_id) in names
            frame = ResyncFrame(
                reason=gap.reason, tables=[], streams=rooms, all_chats=all_chats, resume_from=_resume_from(conn, gap)
            )
            conn.send(encode_text(frame))
        logger.warning("broker gap (%s): %d local sockets told to resync", gap.reason, len(missed))

    # -- sessions and shutdown -------------------------------------------------------------------

    def on_control(self, kind: type[C], handler: ControlHandler[C]) -> None:
        """Run ``handler(message)`` on every process when :meth:`publish_control` sends a ``kind`` message."""
        self._control_handlers.setdefault(kind, []).append(handler)
        kinds = tuple(self._control_handlers)
        self._control_decoder = msgspec.json.Decoder(functools.reduce(operator.or_, kinds))

    async def publish_control(self, message: ControlMessage) -> None:
        # Kept through a broker outage: a lost command (close a logged-out session's sockets) has no resync.
        await self.broker.publish(CONTROL_CHANNEL, msgspec.json.encode(message).decode(), must_arrive=True)

    def _control(self, payload: str) -> None:
        """Decode a control message once and hand it to its handlers, each in a task whose failure is logged."""
        try:
            assert self._control_decoder is not None
            message = self._control_decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.warning("ignoring unknown or malformed hub control message")
            return
        for handler in self._control_handlers[type(message)]:
            task = asyncio.create_task(handler(message), name=f"hub control handler of {type(message).__name__}")
            self._background.add(task)
            task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        log_task_failure(logger, task)

    async def end_session(self, user_id: UUID, session_id: UUID, expires_at: int) -> None:
        """Close, on every process, the sockets authenticated by a session that was logged out."""
        await self.publish_control(EndSession(user_id=user_id, session_id=session_id, expires_at=expires_at))

    async def _end_session_here(self, message: EndSession) -> None:
        for conn in self.connections(message.user_id):
            if conn.principal is not None and conn.principal.session_id == message.session_id:
                conn.close(CloseCode.SESSION_REVOKED, "session ended")

    async def drain(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every socket with 1012 and wait (bounded) for the closes to finish."""
        self.accepting = False
        everyone = list(self._all)
        for conn in everyone:
            conn.close(CloseCode.SERVICE_RESTART, "server restarting")
        if everyone:
            await asyncio.wait([asyncio.ensure_future(c.closed()) for c in everyone], timeout=timeout)


def _resume_from(conn: Connection, gap: Gap) -> dict[str, int]:
    """Per stream of the gap's channels, the last seq the socket got in order before the gap began.

    Its subscription was down or the frames never reached Redis, so nothing came through the broker since the gap
    began, and this process's own failed publishes that reached the socket were not counted (see
    ``Hub._deliver_here_only``); a lost publish of another process lowers the position to just before it.
    """
    user = user_channel(conn.user_id)
    resume_from: dict[str, int] = {}
    for channel in gap.channels:
        if channel == user:
            streams = [stream for stream in conn.seen if stream.startswith("chat:")]
        elif channel in conn.rooms:
            streams = [channel] if channel in conn.seen else []
        else:
            continue
        lost = gap.lost_from.get(channel, {})
        for stream in (*streams, *(s for s in lost if s not in conn.seen)):
            seq = conn.seen.get(stream)
            first_lost = lost.get(stream)
            if first_lost is not None:
                seq = first_lost - 1 if seq is None else min(seq, first_lost - 1)
            if seq is not None:
                resume_from[stream] = seq
    return resume_from
