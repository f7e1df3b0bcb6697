"""Fan-out throughput: one frame through the hub to N sockets of one user, against a bare websockets broadcast.

What is measured: deliveries per second = frames received by all client sockets / wall time, where the wall
time runs from the first send on the server to the last byte received by the clients.

* **ours**: the real app (``create_app``) on a scratch PostgreSQL database, served by uvicorn (the same
  websockets-sansio protocol ``python -m server serve`` uses) in this process's event loop. The app's lifespan
  is wrapped to capture its state, and ``state["hub"].send_to_user(user_id, ReplyDeltaFrame(...))`` is
  called ``--frames`` times back to back: the real path (encode once, publish to the in-process broker,
  queue on each socket, one sender task per busy socket, Starlette -> uvicorn -> transport).
  ``ws_send_queue`` is raised to at least ``--frames`` so that no socket is dropped as a slow consumer.
* **bare**: ``websockets.asyncio.server.serve`` on another port in the same process, and
  ``websockets.broadcast(connections, message)`` ``--frames`` times with the very same strings.

The ``--sockets`` sockets are opened (and authenticated: ``auth`` frame, ``hello`` back) by a client
subprocess (``bench._client``) that only counts received bytes, so client CPU is not charged to the server.
Frames have a fixed size (``--size`` bytes of JSON) so bytes convert exactly to frames. Pings are off on both
servers during the run (the counting client does not parse frames).

Run from the repository root::

    .venv/bin/python -m bench.fanout                 # 1000 sockets x 200 frames
    .venv/bin/python -m bench.fanout --sockets 200 --frames 50 --size 256

Needs PostgreSQL: 127.0.0.1:5432 (user postgres, trust) or ``BENCH_DATABASE_URL``, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import uvicorn
import websockets
from starlette.applications import Starlette

from bench._bare import CONNECTIONS, bare_server
from bench._common import JWT_SECRET, ClientGroup, raise_nofile, scratch_database, signup_and_login
from protocol import ReplyDeltaFrame, encode_text
from server.app import create_app
from server.config import Secret, Settings

GOAL = 0.8


def make_frames(count: int, size: int) -> list[ReplyDeltaFrame]:
    """``count`` reply.delta frames whose JSON encoding is exactly ``size`` bytes each."""

    def frame(index: int, text: str) -> ReplyDeltaFrame:
        return ReplyDeltaFrame(stream="chat:bench", reply_to="bench", replica_id="bench", index=index, text=text)

    base = len(encode_text(frame(10**9, "")).encode())  # index padded to 10 digits below
    if size < base:
        raise SystemExit(f"--size must be at least {base}")
    frames = [frame(10**9 + i, "x" * (size - base)) for i in range(count)]
    assert all(len(encode_text(f).encode()) == size for f in frames)
    return frames


def wire_size(payload: int) -> int:
    """Bytes of an unmasked server-to-client text frame with ``payload`` bytes."""
    if payload < 126:
        return 2 + payload
    if payload < 65536:
        return 4 + payload
    return 10 + payload


@dataclass
class Result:
    name: str
    sockets: int
    frames: int
    delivered: int
    seconds: float
    connect_seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        complete = "" if self.delivered == self.sockets * self.frames else "  INCOMPLETE"
        return (
            f"{self.name:>5}: {self.delivered:>9,} deliveries in {self.seconds:6.3f} s = {self.rate:>10,.0f} /s"
            f"  [cpu: server {self.server_cpu:.2f} s, client {self.client_cpu:.2f} s;"
            f" connect+auth {self.connect_seconds:.1f} s]{complete}"
        )


async def measure(
    name: str, url: str, token: str, args: argparse.Namespace, size: int, fan_out: Callable[[], Awaitable[None]]
) -> Result:
    """Connect the client subprocess, run ``fan_out`` and wait for the clients to count every frame."""
    frame_bytes = wire_size(size)
    clients = ClientGroup(
        url, args.sockets, token=token, frames=args.frames, wire_size=frame_bytes, timeout=args.timeout
    )
    try:
        ready = await clients.start()
        await asyncio.sleep(0.5)  # let the server finish registering the last sockets
        started, cpu_started = time.monotonic(), time.process_time()
        await fan_out()
        reports = await clients.results(args.timeout + 30)
        server_cpu = time.process_time() - cpu_started
    finally:
        await clients.stop()
    received = sum(r["received"] for r in reports)
    last = max((r["last"] for r in reports if r["last"] is not None), default=started)
    return Result(
        name=name,
        sockets=args.sockets,
        frames=args.frames,
        delivered=received // frame_bytes,
        seconds=last - started,
        connect_seconds=max(r["seconds"] for r in ready),
        server_cpu=server_cpu,
        client_cpu=sum(r["cpu"] for r in reports),
    )


@asynccontextmanager
async def serve_uvicorn(app: Starlette, **config: Any) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn in this event loop (lifespan on); yield its port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **config))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during startup")
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_ours(args: argparse.Namespace, frames: list[ReplyDeltaFrame], size: int, data_dir: Path) -> Result:
    async with scratch_database() as dsn:
        settings = Settings(
            database_url=Secret(dsn),
            jwt_secret=Secret(JWT_SECRET),
            data_dir=data_dir,
            log_level="warning",
            ws_send_queue=max(Settings.ws_send_queue, args.frames + 16),
        )
        app = create_app(settings)
        state: dict[str, Any] = {}
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def capturing(app: Starlette) -> AsyncIterator[Any]:
            async with inner(app) as lifespan_state:
                state.update(lifespan_state)
                yield lifespan_state

        app.router.lifespan_context = capturing
        async with serve_uvicorn(app, ws_max_size=settings.ws_max_frame_bytes, ws_ping_interval=None) as port:
            token = await signup_and_login(f"http://127.0.0.1:{port}")
            user_id = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["sub"])
            hub = state["hub"]

            async def fan_out() -> None:
                for frame in frames:
                    await hub.send_to_user(user_id, frame)

            result = await measure("ours", f"ws://127.0.0.1:{port}/ws", token, args, size, fan_out)
            if hub.connection_count:
                await asyncio.sleep(1)  # let the server see the clients go before the lifespan drains
            return result


async def run_bare(args: argparse.Namespace, frames: list[ReplyDeltaFrame], size: int) -> Result:
    messages = [encode_text(frame) for frame in frames]
    async with bare_server(0, ping_interval=None, max_size=64 * 1024, backlog=2048) as server:
        port = next(iter(server.sockets)).getsockname()[1]

        async def fan_out() -> None:
            for message in messages:
                websockets.broadcast(CONNECTIONS, message)

        return await measure("bare", f"ws://127.0.0.1:{port}/", "bare-token", args, size, fan_out)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000, help="client sockets, all of one user (default 1000)")
    parser.add_argument("--frames", type=int, default=200, help="frames fanned out to every socket (default 200)")
    parser.add_argument("--size", type=int, default=256, help="JSON bytes per frame (default 256)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for delivery (default 60)")
    args = parser.parse_args()
    raise_nofile()
    frames = make_frames(args.frames, args.size)
    print(f"fan-out: {args.sockets} sockets x {args.frames} frames of {args.size} B")
    bare = await run_bare(args, frames, args.size)
    print(bare.line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="sensay-hub-bench-") as tmp:
        ours = await run_ours(args, frames, args.size, Path(tmp))
    print(ours.line())
    ratio = ours.rate / bare.rate if bare.rate else 0.0
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"ratio ours/bare: {ratio:.2f}x (goal >= {GOAL}x: {verdict})")


if __name__ == "__main__":
    asyncio.run(main())
