"""Redis' own CPU per message the hubs publish, against the number of subscribed hub processes.

A hub publishes each room message once (``PUBLISH`` on the room's channel) and Redis writes it to every
process subscribed to that channel. Here ``subscribers`` raw connections subscribe (reading and discarding, as
cheaply as possible), ``concurrency`` tasks publish ``messages`` payloads of the hub's size one command at a
time (as the hub does, no pipelining), and Redis' CPU is read from ``INFO cpu`` (microsecond resolution, unlike
``/proc``'s 10 ms ticks) before and after.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as redis

MARK = b"$7\r\nmessage\r\n"
"""Opens every message a subscriber receives."""
PAYLOAD_BYTES = 420
"""About a room ``message`` frame with its envelope, as the hub publishes it."""


async def _cpu(client: redis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class _Tally:
    """Messages the subscribers received, and the moment they all have every one."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received = 0
        self.complete = asyncio.Event()

    def add(self, count: int) -> None:
        self.received += count
        if self.received >= self.expected:
            self.complete.set()


async def _subscriber(port: int, channel: str, ready: asyncio.Event, tally: _Tally) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"SUBSCRIBE {channel}\r\n".encode())
        await writer.drain()
        await reader.readuntil(b":1\r\n")  # the subscription's confirmation
        ready.set()
        tail = b""
        while chunk := await reader.read(1 << 16):
            data = tail + chunk  # a mark split between two reads is counted once
            tally.add(data.count(MARK))
            tail = data[-(len(MARK) - 1) :]
    finally:
        writer.close()


async def per_message(port: int, subscribers: int, messages: int = 20_000, concurrency: int = 32) -> float:
    """Seconds of Redis CPU per published message with ``subscribers`` processes subscribed."""
    client = redis.Redis(host="127.0.0.1", port=port, max_connections=concurrency + 1)
    channel = f"room:bench-{subscribers}"
    tally = _Tally(messages * subscribers)
    readys = [asyncio.Event() for _ in range(subscribers)]
    readers = [asyncio.create_task(_subscriber(port, channel, r, tally)) for r in readys]
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(r.wait() for r in readys))
        payload = "x" * PAYLOAD_BYTES
        left = [messages]

        async def publish() -> None:
            while left[0] > 0:
                left[0] -= 1
                await client.publish(channel, payload)

        before = await _cpu(client)
        await asyncio.gather(*(publish() for _ in range(concurrency)))
        async with asyncio.timeout(60):  # every subscriber got every message
            await tally.complete.wait()
        after = await _cpu(client)
    finally:
        for task in readers:
            task.cancel()
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        await client.aclose()
    return (after - before) / messages
