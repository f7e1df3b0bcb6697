"""Authenticated connects: sockets a second from TCP connect to ``hello``, against bare websockets handshakes.

The load generator opens ``--connects`` sockets, 100 handshakes in flight, each: TCP connect, WebSocket opening
handshake, an ``auth`` frame with a real access token (the benchmark users' in turn), and the ``hello`` back.
connects/s = sockets / seconds from the first connect to the last ``hello``. The bare server (``bench._bare``)
answers ``auth`` with ``hello`` without checking the token, so the ratio is what verifying a token and
registering a socket cost on top of the handshake. The sockets stay open until all are counted, then close.
"""

from __future__ import annotations

import math
from typing import Any

from bench._context import Bench
from bench._report import Figure, num
from bench._services import Service, bare_server

CONCURRENCY = 100
GOAL_RATIO = 0.8


async def connects(bench: Bench, service: Service, url: str) -> dict[str, Any]:
    group = f"connects-{bench.nonce()}"
    async with bench.profiled(service, f"connects-{'ours' if url.endswith('/ws') else 'bare'}"):
        report = await bench.load.open(
            group, url, bench.users, bench.args.connects, concurrency=CONCURRENCY, pids={"server": service.pid}
        )
    await bench.load.close(group)
    return report


def describe(name: str, report: dict[str, Any], count: int) -> str:
    seconds, cpu = report["seconds"], report["cpu"]
    return (
        f"  {name:>5}: {num(count / seconds):>6} connects/s ({count:,} in {seconds:.2f} s); server"
        f" {cpu['server'] / count * 1e6:,.0f} µs CPU/connect (busy {cpu['server'] / seconds:.0%}, waited"
        f" {cpu['server.waited'] / seconds:.0%}); load generator busy {report['load_cpu'] / seconds:.0%}"
    )


async def run(bench: Bench) -> None:
    count = bench.args.connects
    print(f"authenticated connects: {count:,} sockets, {CONCURRENCY} handshakes in flight")
    rate = bench.add(Figure("connects: authenticated connects/s", "bare handshakes", num, ratio_at_least=GOAL_RATIO))
    cost = bench.add(Figure("connects: server CPU per connect", "bare handshakes", lambda s: f"{s * 1e6:,.0f} µs"))
    for _ in range(bench.runs(3)):
        async with bare_server(bench.placement.server) as service:
            bare = await connects(bench, service, service.ws_url("/"))
        print(describe("bare", bare, count), flush=True)
        async with bench.hub() as service:
            ours = await connects(bench, service, service.ws_url())
        print(describe("ours", ours, count), flush=True)
        rate.add(count / ours["seconds"], count / bare["seconds"])
        cost.add(
            ours["cpu"]["server"] / count if count else math.nan, bare["cpu"]["server"] / count if count else math.nan
        )
