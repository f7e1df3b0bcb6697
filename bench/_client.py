"""The load generator: one process holding many WebSocket client sockets, driven by JSON lines on stdin.

It runs on its own CPU (see ``Placement``), so that its work is not charged to the server under test. Each
command is one JSON object a line on stdin and is answered by exactly one JSON line on stdout:

* ``{"op": "open", "group", "url", "tokens", "count", "concurrency", "join"?, "counting"?, "pids"?}`` opens
  ``count`` sockets (token ``i % len(tokens)`` for the ``i``-th), sends ``auth`` on each and waits for ``hello``;
  with ``join`` each then sends ``room.join`` and waits for its ``room.presence`` (with ``"join_own": true``
  the ``i``-th socket joins only ``join[i % len(join)]``, the room a ``run`` has it send to). ``counting`` sockets then
  stop parsing and only count deliveries (``MESSAGE_MARK`` in the raw bytes). Answers how many opened, the
  seconds from the first connect to the last ``hello``/``room.presence`` and the CPU the ``pids`` spent meanwhile.
* ``{"op": "run", ...}`` sends ``room.send`` or ``chat.send`` frames from the ``senders`` groups, closed loop
  (``window`` outstanding per socket, at most ``socket_rate`` a second each, and at most ``inflight`` messages not
  yet counted by every socket of the ``receivers`` groups) or open loop (``rate`` a second in all, on a fixed
  schedule; latency runs from the scheduled time, so a late server is not excused). After ``warmup`` seconds it
  measures for ``duration`` seconds, stops sending, and waits up to ``drain`` seconds for what is outstanding.
  Answers the deliveries and completions in the window, latencies, error codes, dropped sockets, and CPU.
* ``{"op": "close", "group"}`` closes a group's sockets (a close frame, then the TCP connection).

A send completes on its ``ack`` (``room.send``) or on the replica's final ``message`` answering it
(``chat.send``), or on an ``error`` frame carrying its id. ``reply.delta`` frames are skipped unparsed.

Server-to-client frames are split by hand (an unmasked frame is a 2-10 byte header and a payload) instead of
with websockets' ``ClientProtocol``: its generator-based reader costs several times more per frame, and the load
generator must stay far cheaper than the server it measures. ``ClientProtocol`` still does the opening handshake,
and websockets' ``Frame`` masks what we send.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import WebSocketURI, parse_uri

from bench._common import MESSAGE_MARK, cpu_of, percentiles, raise_nofile, run

FRAME_MARK = b'{"type":'
"""Opens every server frame (msgspec writes the tag first): counting it counts the frames a socket received."""
_TAIL = len(MESSAGE_MARK) - 1
_FRAME_TAIL = len(FRAME_MARK) - 1
_DELTA = b'{"type":"reply.delta"'
_MESSAGE = b'{"type":"message"'
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def masked(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True)


@dataclass(eq=False)
class Group:
    """Sockets opened by one ``open`` command."""

    name: str
    uri: WebSocketURI
    join: list[str]
    """Rooms each socket joins (the hub answers ``room.send`` only on a joined room)."""
    counting: bool
    join_own: bool = False
    """Each socket joins only the room it sends to (``join[index % len(join)]``), not all of ``join``."""
    sockets: list[Client] = field(default_factory=list)
    deliveries: int = 0
    frames: int = 0
    dropped: int = 0
    close_codes: Counter[int] = field(default_factory=Counter)
    closing: bool = False
    load: Load | None = None  # the run in progress, for the flow control of ``counting`` groups


class Client(asyncio.Protocol):
    """One socket: handshake, ``auth`` → ``hello`` (→ ``room.join`` → ``room.presence``), then parse or count."""

    def __init__(self, group: Group, index: int, token: str) -> None:
        self.group = group
        self.index = index
        self.token = token
        self.handshake: ClientProtocol | None = ClientProtocol(group.uri, max_size=None)
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.tail = b""
        self.counting = False
        self.stage = "handshake"
        self.joining: set[str] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inflight = 0
        self.waiter: asyncio.Future[None] | None = None

    # -- transport callbacks -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert self.handshake is not None
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.handshake.send_request(self.handshake.connect())
        for chunk in self.handshake.data_to_send():
            transport.write(chunk)

    def data_received(self, data: bytes) -> None:
        if self.counting:
            self._count(data)
        elif self.handshake is not None:
            self._handshake(data)
        else:
            self.buffer += data
            self._split()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stage = "closed"
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before it was ready"))
        elif not self.group.closing:
            self.group.dropped += 1
        self._wake()

    # -- stages ------------------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        protocol = self.handshake
        assert protocol is not None
        protocol.receive_data(data)
        for event in protocol.events_received():
            if not isinstance(event, Response):
                continue  # the server sends nothing before our auth frame
            if protocol.handshake_exc is not None:
                self.fail(protocol.handshake_exc)
                return
            self.handshake = None
            self.stage = "hello"
            self.send({"type": "auth", "token": self.token})

    def _split(self) -> None:
        buffer, pos, size = self.buffer, 0, len(self.buffer)
        while size - pos >= 2:
            opcode, length, head = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buffer[pos + 2 : pos + 4]), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buffer[pos + 2 : pos + 10]), 10
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buffer[pos + head : end])
            pos = end
            self._frame(opcode, payload)
            if self.counting:  # switched to counting mid-buffer: the rest is counted, not parsed
                rest = bytes(buffer[pos:])
                buffer.clear()
                self._count(rest)
                return
        del buffer[:pos]

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == Opcode.TEXT:
            self._text(payload)
        elif opcode == Opcode.PING:
            self.write(masked(Opcode.PONG, payload))
        elif opcode == Opcode.CLOSE:
            if len(payload) >= 2:
                self.group.close_codes[int.from_bytes(payload[:2])] += 1
            self.fail(ConnectionError(f"server closed the socket: {payload[:2].hex()} {payload[2:]!r}"))
        elif opcode != Opcode.PONG:
            self.fail(ConnectionError(f"unexpected opcode {opcode} (fragmented or binary frame)"))

    def _text(self, payload: bytes) -> None:
        if self.stage == "ready":
            load = self.group.load
            if load is None:
                return
            if payload.startswith(_DELTA):
                load.deltas += 1
            elif payload.startswith(_MESSAGE) and MESSAGE_MARK in payload:
                load.sender_deliveries += 1  # a user's message reaching a sender: counted, not parsed
            else:
                load.on_frame(self, _decode(payload))
            return
        frame = _decode(payload)
        kind = frame.get("type")
        if self.stage == "hello":
            if kind != "hello":
                self.fail(ConnectionError(f"expected hello, got {frame}"))
            elif self.group.join:
                self.stage = "join"
                join = self.group.join
                self.joining = {join[self.index % len(join)]} if self.group.join_own else set(join)
                for room in self.joining:
                    self.send({"type": "room.join", "room_id": room})
            else:
                self._become_ready()
        elif self.stage == "join":
            if kind == "room.presence":
                self.joining.discard(frame.get("room_id", ""))
                if not self.joining:
                    self._become_ready()
            elif kind == "error":
                self.fail(ConnectionError(f"room.join failed: {frame}"))

    def _become_ready(self) -> None:
        self.stage = "ready"
        self.counting = self.group.counting
        if not self.ready.done():
            self.ready.set_result(None)

    def _count(self, data: bytes) -> None:
        # A mark split between two reads is found in the last bytes of one and the first of the next.
        group, tail = self.group, self.tail
        found = data.count(MESSAGE_MARK)
        group.frames += data.count(FRAME_MARK)
        if tail:
            found += (tail + data[:_TAIL]).count(MESSAGE_MARK)
            group.frames += (tail[-_FRAME_TAIL:] + data[:_FRAME_TAIL]).count(FRAME_MARK)
        self.tail = data[-_TAIL:] if len(data) >= _TAIL else (tail + data)[-_TAIL:]
        if found:
            group.deliveries += found
            if group.load is not None:
                group.load.delivered(found)

    # -- actions -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send(self, frame: dict[str, Any]) -> None:
        self.write(masked(Opcode.TEXT, _encode(frame)))

    def fail(self, exc: BaseException) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked(Opcode.CLOSE, Close(1000, "").serialize()))
            self.transport.close()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class Load:
    """One ``run`` command: who sends what, when, and what came back."""

    def __init__(self, command: dict[str, Any], senders: list[Client], receivers: list[Group]) -> None:
        self.kind: str = command["kind"]
        self.targets: list[str] = command["targets"]
        self.content = ("bench " + "x" * max(0, int(command.get("content_size", 64)) - 6)).strip()
        self.nonce: str = command["nonce"]
        self.window = int(command.get("window", 1))
        self.socket_rate = float(command.get("socket_rate", 18.0))
        self.rate: float | None = command.get("rate")
        self.inflight: float | None = command.get("inflight")
        self.senders = senders
        self.receivers = receivers
        self.receiving = sum(len(g.sockets) for g in receivers)
        self.sent = 0
        self.delivered_total = 0
        self.pending: dict[str, tuple[Client, float]] = {}
        self.replies: dict[str, str] = {}  # chat: stored message id -> client id, between the ack and the reply
        self.latencies: list[float] = []
        self.ack_latencies: list[float] = []
        self.completions = 0
        self.finished = 0  # completions at any time, warm-up and drain included
        self.deltas = 0
        self.sender_deliveries = 0  # users' messages received by the sending sockets (they are members too)
        self.errors: Counter[str] = Counter()
        self.window_start = math.inf
        self.window_end = math.inf
        self.stopped = False
        self.room = asyncio.Event()
        self.room.set()
        self.drained = asyncio.Event()  # set when nothing is pending once sending has stopped

    # -- sending -----------------------------------------------------------------------------------

    def send(self, sock: Client, started: float) -> None:
        self.sent += 1
        client_id = f"{self.nonce}.{sock.index}.{self.sent}"
        target = self.targets[sock.index % len(self.targets)]
        if self.kind == "room":
            frame = {"type": "room.send", "id": client_id, "room_id": target, "content": self.content}
        else:
            frame = {"type": "chat.send", "id": client_id, "replica_id": target, "content": self.content}
        self.pending[client_id] = (sock, started)
        sock.inflight += 1
        sock.send(frame)

    def unfinished(self) -> float:
        """Messages sent but not yet counted by every receiving socket."""
        return self.sent - self.delivered_total / self.receiving if self.receiving else 0.0

    def delivered(self, count: int) -> None:
        self.delivered_total += count
        if not self.room.is_set() and self.inflight is not None and self.unfinished() < self.inflight:
            self.room.set()

    async def closed_loop(self, sock: Client) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.socket_rate
        next_at = loop.time()
        while not self.stopped and sock.stage == "ready":
            if sock.inflight >= self.window:
                sock.waiter = loop.create_future()
                await sock.waiter
                continue
            if self.inflight is not None and self.receiving and self.unfinished() >= self.inflight:
                self.room.clear()
                await self.room.wait()
                continue
            now = loop.time()
            if next_at > now:
                await asyncio.sleep(next_at - now)
                continue
            next_at = max(next_at, now - interval) + interval
            self.send(sock, time.monotonic())

    async def open_loop(self, sock: Client, offset: float, period: float, start: float) -> None:
        loop = asyncio.get_running_loop()
        delta = time.monotonic() - loop.time()  # scheduled times are kept in time.monotonic() terms
        at = start + offset
        while not self.stopped and sock.stage == "ready":
            wait = at - delta - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self.send(sock, at)
            at += period

    # -- receiving ---------------------------------------------------------------------------------

    def on_frame(self, sock: Client, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ack":
            client_id = frame["id"]
            if self.kind == "room":
                self._complete(client_id)
            else:
                entry = self.pending.get(client_id)
                if entry is not None:
                    self._sample(self.ack_latencies, entry[1])
                    self.replies[frame["message_id"]] = client_id
        elif kind == "message":
            message = frame["message"]
            if message.get("sender") == "replica" and message.get("reply_to") in self.replies:
                self._complete(self.replies.pop(message["reply_to"]))
        elif kind == "error":
            self.errors[str(frame.get("code"))] += 1
            if frame.get("id") in self.pending:
                self._complete(frame["id"], failed=True)

    def _complete(self, client_id: str, *, failed: bool = False) -> None:
        entry = self.pending.pop(client_id, None)
        if entry is None:
            return
        sock, started = entry
        sock.inflight -= 1
        sock._wake()
        if self.stopped and not self.pending:
            self.drained.set()
        if failed:
            return
        self.finished += 1
        now = time.monotonic()
        if self.window_start <= now < self.window_end:
            self.completions += 1
        self._sample(self.latencies, started)
        if self.kind == "room":
            self._sample(self.ack_latencies, started)

    def _sample(self, samples: list[float], started: float) -> None:
        if self.window_start <= started < self.window_end:
            samples.append(time.monotonic() - started)

    def stop(self) -> None:
        self.stopped = True
        self.room.set()
        for sock in self.senders:
            sock._wake()


class Generator:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}

    async def open(self, command: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        name = command["group"]
        if name in self.groups:
            raise ValueError(f"group {name!r} is open already")
        uri = parse_uri(command["url"])
        join = command.get("join") or []
        group = Group(name, uri, [join] if isinstance(join, str) else list(join), bool(command.get("counting", False)))
        group.join_own = bool(command.get("join_own", False))
        self.groups[name] = group
        tokens: list[str] = command["tokens"]
        gate = asyncio.Semaphore(int(command.get("concurrency", 100)))
        failures: Counter[str] = Counter()

        async def open_one(index: int) -> None:
            async with gate:
                try:
                    _, sock = await loop.create_connection(
                        lambda: Client(group, index, tokens[index % len(tokens)]), uri.host, uri.port
                    )
                    group.sockets.append(sock)
                    await asyncio.wait_for(sock.ready, 60)
                except Exception as exc:  # every failure counts, by kind
                    failures[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1

        pids = command.get("pids", {})
        cpu_before, started, own = cpu_of(pids), time.monotonic(), time.process_time()
        await asyncio.gather(*(open_one(i) for i in range(int(command["count"]))))
        seconds = time.monotonic() - started
        cpu_after, own = cpu_of(pids), time.process_time() - own
        return {
            "opened": sum(s.stage == "ready" for s in group.sockets),
            "failed": sum(failures.values()),
            "failures": dict(failures.most_common(3)),
            "seconds": seconds,
            "cpu": {k: cpu_after[k] - cpu_before[k] for k in cpu_after},
            "load_cpu": own,
        }

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        senders = [s for g in command["senders"] for s in self.groups[g].sockets if s.stage == "ready"]
        receivers = [self.groups[g] for g in command.get("receivers", [])]
        if not senders:
            raise ValueError("no open sender sockets")
        load = Load(command, senders, receivers)
        for group in receivers:
            group.load = load
        for group in {s.group for s in senders}:
            group.load = load
        warmup, duration = float(command.get("warmup", 0.5)), float(command["duration"])
        pids: dict[str, int] = command.get("pids", {})
        await self.quiet(receivers)
        start = time.monotonic()
        if load.rate is not None:
            period = len(senders) / load.rate
            if period < 1.0 / load.socket_rate:
                raise ValueError(f"{load.rate}/s over {len(senders)} sockets exceeds {load.socket_rate}/s a socket")
            tasks = [
                asyncio.create_task(load.open_loop(s, i * period / len(senders), period, start))
                for i, s in enumerate(senders)
            ]
        else:
            tasks = [asyncio.create_task(load.closed_loop(s)) for s in senders]
        await asyncio.sleep(max(0.0, start + warmup - time.monotonic()))
        load.window_start = time.monotonic()
        frames = sum(g.frames for g in receivers)
        before = (load.delivered_total, cpu_of(pids), time.process_time(), load.sent, frames, load.sender_deliveries)
        await asyncio.sleep(max(0.0, load.window_start + duration - time.monotonic()))
        load.window_end = time.monotonic()
        frames = sum(g.frames for g in receivers)
        after = (load.delivered_total, cpu_of(pids), time.process_time(), load.sent, frames, load.sender_deliveries)
        load.stop()
        await asyncio.gather(*tasks)
        if load.pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(load.drained.wait(), float(command.get("drain", 10.0)))
        for group in receivers:
            group.load = None
        for group in {s.group for s in senders}:
            group.load = None
        return {
            "seconds": load.window_end - load.window_start,
            "deliveries": after[0] - before[0],
            "sender_deliveries": after[5] - before[5],
            "frames": after[4] - before[4],
            "completions": load.completions,
            "finished": load.finished,
            "deltas": load.deltas,
            "sent": load.sent,
            "sent_in_window": after[3] - before[3],
            "unfinished": len(load.pending),
            "latency": percentiles(load.latencies),
            "ack_latency": percentiles(load.ack_latencies),
            "errors": dict(load.errors),
            "dropped": {g.name: g.dropped for g in self.groups.values() if g.dropped},
            "close_codes": {str(c): n for g in self.groups.values() for c, n in g.close_codes.items()},
            "cpu": {k: after[1][k] - before[1][k] for k in after[1]},
            "load_cpu": after[2] - before[2],
        }

    @staticmethod
    async def quiet(receivers: list[Group], *, still: float = 0.3, limit: float = 30.0) -> None:
        """Wait (at most ``limit`` seconds) until no frame has reached the receivers for ``still`` seconds, so
        that frames caused by their joins (``room.joined``, late through a broker) are not counted as load."""
        deadline = time.monotonic() + limit
        seen = -1
        while time.monotonic() < deadline:
            frames = sum(g.frames for g in receivers)
            if frames == seen:
                return
            seen = frames
            await asyncio.sleep(still)

    async def close(self, command: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.pop(command["group"])
        group.closing = True
        for sock in group.sockets:
            sock.close()
        await asyncio.sleep(0.05)
        return {"closed": len(group.sockets), "dropped": group.dropped}


async def main() -> None:
    raise_nofile()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    generator = Generator()
    handlers = {"open": generator.open, "run": generator.run, "close": generator.close}
    while line := await reader.readline():
        command = msgspec.json.decode(line)
        try:
            reply = await handlers[command["op"]](command)
        except Exception as exc:  # reported to the parent, which fails the benchmark
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(msgspec.json.encode(reply).decode() + "\n")
        sys.stdout.flush()
    for group in generator.groups.values():
        group.closing = True
        for sock in group.sockets:
            sock.close()
    await asyncio.sleep(0.2)


if __name__ == "__main__":
    run(main())
