"""Idle-socket memory: server RSS per authenticated idle WebSocket, ours against a bare websockets server.

Each server runs in a process of its own, as shipped (ours: default settings, heartbeats on; the bare server:
pings every 20 s like ours). Its resident set size (``VmRSS`` of ``/proc/<pid>/status``) is read once it has
served a warm-up batch of sockets (so one-time imports and caches are not counted), and again once
``--idle-sockets`` sockets are open, authenticated (``auth`` → ``hello``) and idle and the RSS has settled
(three readings 0.5 s apart within 1%). KiB per socket = (after - before) / sockets. The sockets use the
benchmark users' tokens in turn and answer the servers' pings.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench._common import rss_kib
from bench._context import Bench
from bench._report import Figure
from bench._services import Service, bare_server

GOAL_KIB = 16.0
WARM_UP_SOCKETS = 20


@dataclass
class Result:
    name: str
    count: int
    before_kib: int
    after_kib: int
    connect_seconds: float

    @property
    def per_socket(self) -> float:
        return (self.after_kib - self.before_kib) / self.count

    def line(self) -> str:
        return (
            f"  {self.name:>5}: RSS {self.before_kib / 1024:6.1f} MiB -> {self.after_kib / 1024:6.1f} MiB for"
            f" {self.count:,} sockets = {self.per_socket:5.1f} KiB/socket (connect+auth {self.connect_seconds:.1f} s)"
        )


async def settled_rss(pid: int, *, limit: float = 20.0) -> int:
    """RSS once three readings 0.5 s apart are within 1% of each other (or after ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    readings = [rss_kib(pid)]
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        readings.append(rss_kib(pid))
        last = readings[-3:]
        if len(last) == 3 and max(last) - min(last) <= 0.01 * max(last):
            break
    return readings[-1]


async def measure(bench: Bench, name: str, service: Service, url: str) -> Result:
    load, nonce = bench.load, bench.nonce()
    await load.open(f"warm-{nonce}", url, bench.users, WARM_UP_SOCKETS)
    await load.close(f"warm-{nonce}")
    await asyncio.sleep(1)
    before = await settled_rss(service.pid)
    count = bench.args.idle_sockets
    opened = await load.open(f"idle-{nonce}", url, bench.users, count, concurrency=100)
    try:
        after = await settled_rss(service.pid)
    finally:
        await load.close(f"idle-{nonce}")
    return Result(name, count, before, after, opened["seconds"])


def kib(value: float) -> str:
    return f"{value:.1f} KiB"


async def run(bench: Bench) -> None:
    print(f"idle memory: {bench.args.idle_sockets:,} authenticated idle sockets per server")
    figure = bench.add(Figure("idle memory: RSS per authenticated socket", "bare websockets", kib, at_most=GOAL_KIB))
    for _ in range(bench.runs(1)):
        async with bare_server(bench.placement.server, pings=True) as service:
            bare = await measure(bench, "bare", service, service.ws_url("/"))
        print(bare.line(), flush=True)
        async with bench.hub() as service:
            ours = await measure(bench, "ours", service, service.ws_url())
        print(ours.line(), flush=True)
        figure.add(ours.per_socket, bare.per_socket)
