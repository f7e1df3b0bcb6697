"""``resume``: replay what a reconnecting client missed, stream by stream, or say it cannot."""

from __future__ import annotations

import asyncpg

from protocol import ErrorCode, ErrorFrame, ResumedFrame, ResumeFrame, encode_text, parse_stream

from ..store import conversations
from .connection import Connection
from .frames import message_frame

MAX_REPLAY = 500
"""Most messages replayed per stream; a client further behind re-fetches history over REST."""


async def replay(pool: asyncpg.Pool, conn: Connection, frame: ResumeFrame) -> None:
    """Queue every stored message after each stream's last seen ``seq``, in order, then a ``resumed`` frame.

    The socket is subscribed before the replay reads the database, so nothing stored meanwhile is
    missed; a message may then arrive twice, and clients drop a ``seq`` they have already seen.
    """
    for stream, last_seen in frame.streams.items():
        kind, key = parse_stream(stream)
        if kind != "chat":
            _refuse(conn, frame, stream, "room streams are not available on this server yet")
            continue
        latest = await conversations.latest_seq(pool, conn.user_id, key)
        if last_seen > latest:
            _refuse(conn, frame, stream, f"seq {last_seen} is ahead of the stream (latest {latest}); re-fetch history")
            continue
        if latest - last_seen > MAX_REPLAY:
            _refuse(conn, frame, stream, f"{latest - last_seen} messages missed; re-fetch history over REST")
            continue
        missed = await conversations.messages_after(pool, conn.user_id, key, last_seen, MAX_REPLAY)
        for message in missed:
            conn.send(encode_text(message_frame(message)))
        newest = missed[-1].seq if missed else latest
        conn.send(encode_text(ResumedFrame(stream=stream, replayed=len(missed), latest_seq=newest)))


def _refuse(conn: Connection, frame: ResumeFrame, stream: str, message: str) -> None:
    error = ErrorFrame(code=ErrorCode.RESUME_UNAVAILABLE, message=message, id=frame.id, stream=stream)
    conn.send(encode_text(error))
