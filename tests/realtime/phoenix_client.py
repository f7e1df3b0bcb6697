"""A bare Phoenix client of ``/realtime/v1/websocket`` for the tests: frames as supabase-js (vsn 2.0.0) or
realtime-py (vsn 1.0.0) send them, with bounded waits for what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from server.realtime import phoenix
from server.realtime.phoenix import Message, Vsn

WAIT = 5.0
"""Seconds any expected frame may take (a bound, not a speed requirement)."""


class PhoenixClient:
    def __init__(self, ws: websockets.ClientConnection, vsn: Vsn) -> None:
        self.ws = ws
        self.vsn = vsn
        self._refs = itertools.count(1)
        self.join_refs: dict[str, str] = {}

    def ref(self) -> str:
        return str(next(self._refs))

    async def send(self, topic: str, event: str, payload: dict[str, Any], *, ref: str | None = None) -> str:
        ref = ref or self.ref()
        join_ref = ref if event == "phx_join" else self.join_refs.get(topic)
        if event == "phx_join":
            self.join_refs[topic] = ref
        await self.ws.send(phoenix.encode(Message(topic, event, payload, ref, join_ref), self.vsn))
        return ref

    async def send_binary_broadcast(self, topic: str, event: str, payload: Any, *, raw: bool = False) -> str:
        """A broadcast the way supabase-js pushes it: a binary user broadcast push (kind 3)."""
        ref = self.ref()
        message = Message(topic, "broadcast", {"event": event}, ref, self.join_refs.get(topic))
        body = payload if raw else json.dumps(payload).encode()
        await self.ws.send(phoenix.encode_user_broadcast_push(message, user_payload=body, json_payload=not raw))
        return ref

    async def recv(self, timeout: float = WAIT) -> Message:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(frame, bytes):
            return _decode_user_broadcast(frame)
        data = json.loads(frame)
        if self.vsn is Vsn.V2:
            join_ref, ref, topic, event, payload = data
            return Message(topic, event, payload, ref, join_ref)
        assert set(data) == {"topic", "event", "payload", "ref"}, data
        return Message(data["topic"], data["event"], data["payload"], data["ref"])

    async def expect(self, match: Callable[[Message], bool], timeout: float = WAIT) -> tuple[Message, list[Message]]:
        """Read until a message matches; return it and the ones before it."""
        seen: list[Message] = []
        async with asyncio.timeout(timeout):
            while True:
                message = await self.recv(timeout)
                if match(message):
                    return message, seen
                seen.append(message)

    async def reply(self, ref: str, timeout: float = WAIT) -> Message:
        found, _ = await self.expect(lambda m: m.event == "phx_reply" and m.ref == ref, timeout)
        return found

    async def event(self, event: str, timeout: float = WAIT) -> Message:
        found, _ = await self.expect(lambda m: m.event == event, timeout)
        return found

    async def join(self, topic: str, config: dict[str, Any] | None = None, **payload: Any) -> Message:
        ref = await self.send(topic, "phx_join", {"config": config or {}, **payload})
        return await self.reply(ref)

    async def nothing(self, seconds: float, event: str | None = None) -> list[Message]:
        """Messages (of ``event``, if given) that arrive within ``seconds``: expected to be none."""
        got: list[Message] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    message = await self.recv(seconds)
                    if event is None or message.event == event:
                        got.append(message)
        return got


def _decode_user_broadcast(frame: bytes) -> Message:
    assert frame[0] == phoenix.USER_BROADCAST, frame[:1]
    topic_size, event_size, meta_size, encoding = frame[1:5]
    offset = 5
    topic = frame[offset : offset + topic_size].decode()
    offset += topic_size
    event = frame[offset : offset + event_size].decode()
    offset += event_size + meta_size
    body: Any = frame[offset:] if encoding == phoenix.BINARY_ENCODING else json.loads(frame[offset:])
    return Message(topic, "broadcast", {"type": "broadcast", "event": event, "payload": body, "binary": True})


def realtime_url(base_url: str, apikey: str | None, vsn: Vsn = Vsn.V2) -> str:
    url = base_url.replace("http://", "ws://") + "/realtime/v1/websocket"
    query = f"vsn={vsn.value}" + (f"&apikey={apikey}" if apikey is not None else "")
    return f"{url}?{query}"


@asynccontextmanager
async def phoenix_socket(base_url: str, apikey: str, vsn: Vsn = Vsn.V2) -> AsyncIterator[PhoenixClient]:
    async with websockets.connect(realtime_url(base_url, apikey, vsn), open_timeout=WAIT, max_queue=None) as ws:
        yield PhoenixClient(ws, vsn)


async def stalled_socket(base_url: str, apikey: str, topic: str, *, rcvbuf: int = 4096) -> socket.socket:
    """A V2 client that joins ``topic`` and then never reads again: the slowest possible consumer (websockets'
    sans-I/O protocol over a plain socket with a tiny receive buffer, so nothing soaks up what the server sends)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    host, port = base_url.removeprefix("http://").split(":")
    await loop.sock_connect(sock, (host, int(port)))
    protocol = ClientProtocol(parse_uri(realtime_url(base_url, apikey)))
    protocol.send_request(protocol.connect())
    await loop.sock_sendall(sock, b"".join(protocol.data_to_send()))
    while not protocol.events_received():
        protocol.receive_data(await loop.sock_recv(sock, 65536))
    protocol.send_text(phoenix.encode(Message(topic, "phx_join", {"config": {}}, "1", "1"), Vsn.V2).encode())
    await loop.sock_sendall(sock, b"".join(protocol.data_to_send()))
    return sock
