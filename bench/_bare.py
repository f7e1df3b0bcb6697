"""The baseline: a bare ``websockets`` server speaking just enough of our protocol for the load generator.

It does what the hub does on the benchmarked paths with nothing else: no token check (the user id is read from
the token unverified), no database, no queues, no tasks per frame. Frames are our protocol's own structs, so
every frame on the wire has the shape and size of the hub's.

* ``auth`` → ``hello``; ``ping`` → ``pong``.
* ``room.join`` → the joiner gets a ``room.presence`` naming only itself.
* ``room.send`` → an ``ack`` to the sender, then the ``message`` frame to every socket that joined the room,
  with one ``websockets.broadcast`` (the frame is built once and written to each transport).
* ``chat.send`` (when ``--replica-url`` is given) → ``ack`` and the user's ``message``, then the replica's answer
  streamed from the local replica (one HTTP request, as our Sensay client makes) as ``reply.delta`` frames
  and the final ``message``.

Run as ``python -m bench._bare --port N [--replica-url URL]`` (the replica's secret in ``BENCH_REPLICA_SECRET``);
it prints ``listening`` when ready and serves until terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, Literal

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
    RoomJoinFrame,
    RoomPresenceFrame,
    RoomSendFrame,
    StoredMessage,
    chat_stream,
    decode_client_frame,
    encode_text,
    room_stream,
)

ROOMS: defaultdict[str, set[ServerConnection]] = defaultdict(set)
SEQ: defaultdict[str, int] = defaultdict(int)
SENSAY_USERS: set[str] = set()
BACKGROUND: set[asyncio.Task[None]] = set()


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
    def __init__(self, ws: ServerConnection, user_id: str, http: httpx.AsyncClient | None) -> None:
        self.ws = ws
        self.user_id = user_id
        self.http = http
        self.rooms: set[str] = set()

    async def handle(self, text: str) -> None:
        try:
            frame = decode_client_frame(text)
        except FrameError as exc:
            await self.ws.send(encode_text(exc.to_frame()))
            return
        match frame:
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
        async with self.http.stream(
            "POST",
            f"/v1/replicas/{frame.replica_id}/chat/completions",
            json={"content": frame.content, "source": "web", "skip_chat_history": False},
            headers={"X-USER-ID": self.user_id, "Accept": "text/event-stream"},
        ) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("0:"):
                    text = msgspec.json.decode(line[2:], type=str)
                    delta = ReplyDeltaFrame(
                        stream=stream, reply_to=question.id, replica_id=frame.replica_id, index=len(parts), text=text
                    )
                    await self.ws.send(encode_text(delta))
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
    args = parser.parse_args()
    raise_nofile()
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
        session = Session(ws, user_of(first.token), http)
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
