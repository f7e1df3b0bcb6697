"""``resume``: replay what a reconnecting client missed, stream by stream, or say why it cannot."""

from __future__ import annotations

from typing import Final
from uuid import UUID

from protocol import ErrorCode, ErrorFrame, MessageFrame, ResumedFrame, ResumeFrame, encode_text, parse_stream

from ..chat.service import ChatService
from ..errors import DomainError, error_code
from ..hub.connection import Connection
from ..rooms.service import RoomService

MAX_REPLAY: Final = 500
"""Most messages replayed per stream; a client further behind re-fetches history over REST."""


async def replay(conn: Connection, frame: ResumeFrame, chat: ChatService, rooms: RoomService) -> None:
    """Queue every stored message after each stream's last seen ``seq``, in order, then a ``resumed`` frame.

    A stream that cannot be resumed gets an ``error`` naming it: ``not_found``/``forbidden`` for a room the user
    cannot see or is not a member of, ``replica_not_found`` for an empty chat stream of a replica that does not
    exist, ``resume_unavailable`` for a gap that cannot be replayed. The socket is subscribed before the replay
    reads the database, so nothing stored meanwhile is missed; a message may then arrive twice, and clients drop a
    ``seq`` they have already seen.
    """
    user_id = conn.user_id
    for stream, last_seen in frame.streams.items():
        kind, key = parse_stream(stream)
        try:
            if kind == "chat":
                latest = await chat.latest_seq(user_id, key)
            else:
                latest = await rooms.latest_seq(UUID(key), user_id)
        except DomainError as exc:
            _refuse(conn, frame, stream, error_code(exc), exc.detail)
            continue
        if last_seen > latest:
            detail = f"seq {last_seen} is ahead of the stream (latest {latest}); re-fetch history"
            _refuse(conn, frame, stream, ErrorCode.RESUME_UNAVAILABLE, detail)
            continue
        if latest - last_seen > MAX_REPLAY:
            detail = f"{latest - last_seen} messages missed; re-fetch history over REST"
            _refuse(conn, frame, stream, ErrorCode.RESUME_UNAVAILABLE, detail)
            continue
        if kind == "chat":
            missed = await chat.replay(user_id, key, last_seen, MAX_REPLAY)
        else:
            missed = await rooms.replay(UUID(key), last_seen, MAX_REPLAY)
        for message in missed:
            conn.send(encode_text(MessageFrame(message=message)))
        newest = missed[-1].seq if missed else latest
        conn.got(stream, newest)
        conn.send(encode_text(ResumedFrame(stream=stream, replayed=len(missed), latest_seq=newest, id=frame.id)))


def _refuse(conn: Connection, frame: ResumeFrame, stream: str, code: ErrorCode, detail: str) -> None:
    error = ErrorFrame(code=code, message=detail, id=frame.id, stream=stream, retryable=code.retryable)
    conn.send(encode_text(error))
