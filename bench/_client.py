"""The benchmarks' WebSocket client, run as a subprocess so its CPU and memory are not charged to the server.

Opens ``--count`` sockets to ``--url``, authenticates each with the token in ``BENCH_TOKEN`` (``auth`` frame,
then waits for ``hello``), and prints one JSON line ``{"event": "ready", ...}``. Then:

* with ``--frames N`` (fan-out mode) it counts the bytes every socket receives until each socket got
  ``N`` frames of ``--wire-size`` bytes, and prints ``{"event": "done", ...}`` with the time of the first and
  last byte (``time.monotonic``, which is system-wide on Linux, so the parent can compare it with its own);
* with ``--frames 0`` (idle mode) it keeps the sockets open, answering pings, until its stdin closes.

Each socket is websockets' sans-I/O ``ClientProtocol`` on a plain asyncio transport; in fan-out mode the
frames are only counted (not parsed) so that the client is as cheap as possible and never the bottleneck.
Pings must therefore be off on the server in fan-out mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from bench._common import raise_nofile


class Totals:
    """Bytes received by all sockets of this process in fan-out mode."""

    def __init__(self, expected: int, done: asyncio.Future[None]) -> None:
        self.expected = expected
        self.received = 0
        self.first: float | None = None
        self.last: float | None = None
        self.done = done

    def add(self, size: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.received += size
        self.last = now
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(None)


class BenchSocket(asyncio.Protocol):
    def __init__(self, uri: str, token: str, totals: Totals | None) -> None:
        self.protocol = ClientProtocol(parse_uri(uri), max_size=None)
        self.token = token
        self.totals = totals
        self.counting = False
        self.received = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.counting:
            self.received += len(data)
            assert self.totals is not None
            self.totals.add(len(data))
            return
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    self._fail(self.protocol.handshake_exc)
                    return
                self.protocol.send_text(json.dumps({"type": "auth", "token": self.token}).encode())
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT and not self.ready.done():
                message = json.loads(event.data)
                if message.get("type") != "hello":
                    self._fail(RuntimeError(f"expected hello, got {message}"))
                    return
                self.counting = self.totals is not None
                self.ready.set_result(None)
        self._flush()
        if self.protocol.state is State.CLOSED and self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        assert self.transport is not None
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.write_eof()

    def _fail(self, exc: BaseException) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before hello"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def emit(**report: object) -> None:
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="ws://host:port/path")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--frames", type=int, default=0, help="frames to expect per socket (0: idle mode)")
    parser.add_argument("--wire-size", type=int, default=0, help="bytes of one frame on the wire")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for all frames")
    args = parser.parse_args()
    raise_nofile()
    token = os.environ.get("BENCH_TOKEN", "")
    loop = asyncio.get_running_loop()
    totals = None
    if args.frames:
        totals = Totals(args.count * args.frames * args.wire_size, loop.create_future())
    parts = urlsplit(args.url)
    gate = asyncio.Semaphore(args.concurrency)
    sockets: list[BenchSocket] = []

    async def open_one() -> bool:
        async with gate:
            try:
                _transport, sock = await loop.create_connection(
                    lambda: BenchSocket(args.url, token, totals), parts.hostname, parts.port
                )
                sockets.append(sock)
                await asyncio.wait_for(sock.ready, 30)
            except Exception:  # any failure counts as a socket that did not open
                return False
            return True

    started = time.monotonic()
    outcomes = await asyncio.gather(*(open_one() for _ in range(args.count)))
    emit(event="ready", opened=sum(outcomes), failed=outcomes.count(False), seconds=time.monotonic() - started)

    if totals is not None:
        cpu_started = time.process_time()
        try:
            await asyncio.wait_for(asyncio.shield(totals.done), args.timeout)
        except TimeoutError:
            pass
        per_socket = [s.received for s in sockets] or [0]
        emit(
            event="done",
            received=totals.received,
            expected=totals.expected,
            first=totals.first,
            last=totals.last,
            min_socket=min(per_socket),
            max_socket=max(per_socket),
            cpu=time.process_time() - cpu_started,
        )
    await asyncio.to_thread(sys.stdin.read)  # the parent closes our stdin when it is done measuring
    for sock in sockets:
        sock.close()
    await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main())
