"""The baseline: a bare ``websockets`` server speaking just enough of our protocol for the load generator.

It does what the hub does on the benchmarked paths with nothing else: no token check (the user id is read from
the token unverified), no database, no queues, no tasks per frame. Frames are our protocol's own structs, so
every frame on the wire has the shape and size of the hub's.

* ``auth`` → ``hello``; ``ping`` → ``pong``.
* ``room.join`` → the joiner gets a ``room.presence`` naming only itself.
* ``room.send`` → an ``ack`` to the sender, then the ``message`` frame to every socket that joined the room,
  with one ``websockets.broadcast`` (the frame is built once and written to each transport). With ``--dsn`` the
  message is first stored in ``room_messages`` with group commit (the sends that arrive within ``GROUP_WINDOW``,
  at most ``GROUP_LIMIT``, inserted by one statement, one commit, then each acked and broadcast): the least a
  server that stores before it acks must do.
* ``chat.send`` (when ``--replica-url`` is given) → ``ack`` and the user's ``message``, then the replica's answer
  streamed from the local replica (one HTTP request, as our Sensay client makes) as ``reply.started``,
  ``reply.delta`` frames and the final ``message``: the hub's frames; ``--delta-ms`` coalesces the deltas as the
  hub does (``server.replies.coalesce``), 0 sends one per streamed piece.

Run as ``python -m bench._bare --port N [--replica-url URL] [--delta-ms MS] [--dsn DSN]`` (the replica's secret in
``BENCH_REPLICA_SECRET``); it prints ``listening`` when ready and serves until terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import httpx
import jwt
import msgspec
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench._common import raise_nofile, run
from protocol import (
    AckFrame,
    AuthFrame,
    ChatSendFrame,
    FrameError,
    HelloFrame,
    MessageFrame,
    PingFrame,
    PongFrame,
    ReplyDeltaFrame,
    ReplyStartedFrame,
    RoomJoinFrame,
    RoomPresenceFrame,
    RoomSendFrame,
    StoredMessage,
    chat_stream,
    decode_client_frame,
    encode_text,
    room_stream,
)
from server.replies.coalesce import DeltaCoalescer

ROOMS: defaultdict[str, set[ServerConnection]] = defaultdict(set)
SEQ: defaultdict[str, int] = defaultdict(int)
SENSAY_USERS: set[str] = set()
BACKGROUND: set[asyncio.Task[None]] = set()
GROUP_WINDOW = 0.001
GROUP_LIMIT = 64
INSERT_MANY = """
    INSERT INTO room_messages (room_id, seq, sender, user_id, message, client_id)
    SELECT r, s, 'user', u, m, c FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[])
        AS t(r, s, u, m, c)
    RETURNING id, seq, created_at
"""


class GroupCommit:
    """Stores room messages a batch at a time: one ``INSERT … FROM unnest`` and one commit per batch."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.waiting: list[tuple[tuple[str, int, str, str, str], asyncio.Future[asyncpg.Record]]] = []
        self.seq = time.time_ns() // 1000  # far above the hub's seqs, unique per run
        self.flushing: set[asyncio.Task[None]] = set()

    async def store(self, room_id: str, user_id: str, content: str, client_id: str) -> asyncpg.Record:
        self.seq += 1
        future: asyncio.Future[asyncpg.Record] = asyncio.get_running_loop().create_future()
        self.waiting.append(((room_id, self.seq, user_id, content, client_id), future))
        if len(self.waiting) >= GROUP_LIMIT:
            self._flush()
        elif len(self.waiting) == 1:
            asyncio.get_running_loop().call_later(GROUP_WINDOW, self._flush)
        return await future

    def _flush(self) -> None:
        batch, self.waiting = self.waiting, []
        if batch:
            task = asyncio.create_task(self._insert(batch))
            self.flushing.add(task)
            task.add_done_callback(self.flushing.discard)

    async def _insert(self, batch: list[tuple[tuple[str, int, str, str, str], asyncio.Future[asyncpg.Record]]]) -> None:
        columns = list(zip(*(row for row, _ in batch), strict=True))
        try:
            rows = await self.pool.fetch(INSERT_MANY, *map(list, columns))
        except Exception as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), row in zip(batch, rows, strict=True):
            future.set_result(row)


def stored(stream: str, seq: int, sender: Literal["user", "replica"], content: str, **fields: Any) -> StoredMessage:
    return StoredMessage(
        id=str(uuid.uuid4()),
        stream=stream,
        seq=seq,
        sender=sender,
        content=content,
        created_at=datetime.now(UTC).isoformat(),
        **fields,
    )


class Session:
    def __init__(
        self,
        ws: ServerConnection,
        user_id: str,
        http: httpx.AsyncClient | None,
        store: GroupCommit | None,
        delta_seconds: float,
    ) -> None:
        self.ws = ws
        self.user_id = user_id
        self.http = http
        self.store = store
        self.delta_seconds = delta_seconds
        self.rooms: set[str] = set()

    async def handle(self, text: str) -> None:
        try:
            frame = decode_client_frame(text)
        except FrameError as exc:
            await self.ws.send(encode_text(exc.to_frame()))
            return
        match frame:
            case RoomSendFrame() if self.store is not None:
                task = asyncio.create_task(self.stored_send(frame))
                BACKGROUND.add(task)
                task.add_done_callback(BACKGROUND.discard)
            case RoomSendFrame():
                stream = room_stream(frame.room_id)
                SEQ[stream] += 1
                message = stored(
                    stream,
                    SEQ[stream],
                    "user",
                    frame.content,
                    user_id=self.user_id,
                    room_id=frame.room_id,
                    client_id=frame.id,
                )
                ack = AckFrame(id=frame.id, stream=stream, message_id=message.id, seq=SEQ[stream])
                await self.ws.send(encode_text(ack))
                broadcast(ROOMS[stream], encode_text(MessageFrame(message=message)))
            case RoomJoinFrame():
                stream = room_stream(frame.room_id)
                ROOMS[stream].add(self.ws)
                self.rooms.add(stream)
                await self.ws.send(encode_text(RoomPresenceFrame(room_id=frame.room_id, user_ids=[self.user_id])))
            case ChatSendFrame() if self.http is not None:
                task = asyncio.create_task(self.chat(frame))
                BACKGROUND.add(task)
                task.add_done_callback(BACKGROUND.discard)
            case PingFrame():
                await self.ws.send(encode_text(PongFrame(id=frame.id)))
            case _:
                pass

    async def stored_send(self, frame: RoomSendFrame) -> None:
        """Store, ack, broadcast (the sends of a socket are stored concurrently, as the hub's are)."""
        assert self.store is not None
        stream = room_stream(frame.room_id)
        row = await self.store.store(frame.room_id, self.user_id, frame.content, frame.id)
        message = StoredMessage(
            id=str(row["id"]),
            stream=stream,
            seq=row["seq"],
            sender="user",
            content=frame.content,
            created_at=row["created_at"].isoformat(),
            user_id=self.user_id,
            room_id=frame.room_id,
            client_id=frame.id,
        )
        await self.ws.send(encode_text(AckFrame(id=frame.id, stream=stream, message_id=message.id, seq=message.seq)))
        broadcast(ROOMS[stream], encode_text(MessageFrame(message=message)))

    async def chat(self, frame: ChatSendFrame) -> None:
        assert self.http is not None
        stream = chat_stream(frame.replica_id)
        SEQ[stream] += 2
        question = stored(stream, SEQ[stream] - 1, "user", frame.content, user_id=self.user_id, client_id=frame.id)
        await self.ws.send(encode_text(AckFrame(id=frame.id, stream=stream, message_id=question.id, seq=SEQ[stream])))
        await self.ws.send(encode_text(MessageFrame(message=question)))
        if self.user_id not in SENSAY_USERS:
            response = await self.http.post("/v1/users", json={"id": self.user_id})
            if response.status_code not in (200, 201, 409):
                response.raise_for_status()
            SENSAY_USERS.add(self.user_id)
        parts: list[str] = []
        started = ReplyStartedFrame(stream=stream, reply_to=question.id, replica_id=frame.replica_id)
        await self.ws.send(encode_text(started))

        async def show(index: int, text: str) -> None:
            delta = ReplyDeltaFrame(
                stream=stream, reply_to=question.id, replica_id=frame.replica_id, index=index, text=text
            )
            await self.ws.send(encode_text(delta))

        async with (
            DeltaCoalescer(show, self.delta_seconds) as deltas,
            self.http.stream(
                "POST",
                f"/v1/replicas/{frame.replica_id}/chat/completions",
                json={"content": frame.content, "source": "web", "skip_chat_history": False},
                headers={"X-USER-ID": self.user_id, "Accept": "text/event-stream"},
            ) as response,
        ):
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("0:"):
                    text = msgspec.json.decode(line[2:], type=str)
                    await deltas.add(text)
                    parts.append(text)
        answer = stored(
            stream, SEQ[stream], "replica", "".join(parts), replica_id=frame.replica_id, reply_to=question.id
        )
        await self.ws.send(encode_text(MessageFrame(message=answer)))


def user_of(token: str) -> str:
    try:
        return str(jwt.decode(token, options={"verify_signature": False})["sub"])
    except (jwt.PyJWTError, KeyError):
        return str(uuid.uuid4())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replica-url", help="the local replica, for chat.send")
    parser.add_argument("--ping-interval", type=float, default=None, help="seconds (default: no pings)")
    parser.add_argument("--dsn", help="store room messages in this database (group commit) before acking")
    parser.add_argument("--delta-ms", type=float, default=0.0, help="coalesce reply.delta frames (default 0: not)")
    args = parser.parse_args()
    raise_nofile()
    store = GroupCommit(await asyncpg.create_pool(args.dsn, min_size=4, max_size=20)) if args.dsn else None
    http = None
    if args.replica_url:
        secret = os.environ.get("BENCH_REPLICA_SECRET", "")
        headers = {"X-ORGANIZATION-SECRET": secret, "X-API-Version": "2025-03-25"}
        http = httpx.AsyncClient(base_url=args.replica_url, headers=headers, timeout=30)

    async def handler(ws: ServerConnection) -> None:
        try:
            first = decode_client_frame(await asyncio.wait_for(ws.recv(), 5))
        except Exception:  # timeout, a bad frame or the peer went away
            return
        if not isinstance(first, AuthFrame):
            return
        session = Session(ws, user_of(first.token), http, store, args.delta_ms / 1000)
        hello = HelloFrame(
            protocol=1,
            connection_id=uuid.uuid4().hex,
            user_id=session.user_id,
            heartbeat_interval=20.0,
            max_frame_bytes=64 * 1024,
        )
        await ws.send(encode_text(hello))
        try:
            async for text in ws:
                await session.handle(str(text))
        except ConnectionClosed:
            pass  # the load generator hangs up without waiting for our close frame
        finally:
            for stream in session.rooms:
                ROOMS[stream].discard(ws)

    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        max_size=64 * 1024,
        backlog=2048,
        compression=None,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_interval,
    ):
        sys.stdout.write("listening\n")
        sys.stdout.flush()
        await asyncio.Future()


if __name__ == "__main__":
    run(main())
