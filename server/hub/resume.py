"""``resume``: replay what a reconnecting client missed, stream by stream, or say it cannot."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from protocol import ErrorCode, ErrorFrame, ResumedFrame, ResumeFrame, encode_text, parse_stream

from ..store import conversations, rooms
from ..store.errors import NotFound
from .connection import Connection
from .frames import message_frame

if TYPE_CHECKING:
    from ..rooms.service import RoomService

MAX_REPLAY = 500
"""Most messages replayed per stream; a client further behind re-fetches history over REST."""


async def replay(pool: asyncpg.Pool, conn: Connection, frame: ResumeFrame, rooms_service: RoomService) -> None:
    """Queue every stored message after each stream's last seen ``seq``, in order, then a ``resumed`` frame.

    The socket is subscribed before the replay reads the database, so nothing stored meanwhile is
    missed; a message may then arrive twice, and clients drop a ``seq`` they have already seen.
    """
    for stream, last_seen in frame.streams.items():
        kind, key = parse_stream(stream)
        if kind == "chat":
            latest = await conversations.latest_seq(pool, conn.user_id, key)
        else:
            from ..rooms.service import NotAMember  # rooms build on the hub, not the other way round

            try:
                await rooms_service.member_room(UUID(key), conn.user_id)
            except (NotFound, NotAMember):
                _refuse(conn, frame, stream, "no such room, or you are not a member")
                continue
            latest = await rooms.latest_seq(pool, UUID(key))
        if last_seen > latest:
            _refuse(conn, frame, stream, f"seq {last_seen} is ahead of the stream (latest {latest}); re-fetch history")
            continue
        if latest - last_seen > MAX_REPLAY:
            _refuse(conn, frame, stream, f"{latest - last_seen} messages missed; re-fetch history over REST")
            continue
        if kind == "chat":
            missed = await conversations.messages_after(pool, conn.user_id, key, last_seen, MAX_REPLAY)
            frames = [message_frame(m) for m in missed]
        else:
            room_missed = await rooms.messages_after(pool, UUID(key), last_seen, MAX_REPLAY)
            frames = [message_frame(m) for m in room_missed]
        for message_frame_ in frames:
            conn.send(encode_text(message_frame_))
        newest = frames[-1].message.seq if frames else latest
        conn.send(encode_text(ResumedFrame(stream=stream, replayed=len(frames), latest_seq=newest)))


def _refuse(conn: Connection, frame: ResumeFrame, stream: str, message: str) -> None:
    error = ErrorFrame(code=ErrorCode.RESUME_UNAVAILABLE, message=message, id=frame.id, stream=stream)
    conn.send(encode_text(error))
