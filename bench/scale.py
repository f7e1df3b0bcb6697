"""Scale across processes: the room fan-out on one hub process and on ``serve --workers 2``, sharing a Redis.

``sensay-hub serve --workers N`` runs N processes on one port (uvicorn's workers, sharing the listening socket);
here it is started with ``WEB_CONCURRENCY=2`` and a private Redis, against one ``serve`` process with the same
Redis. The receivers (``--scale-sockets``, all in one room) and the senders connect to the one port and the
kernel spreads them over the workers; each message is stored by the sender's worker, published to Redis once,
and delivered by every worker to its own members. Measured as in ``fanout`` (same senders, flow control and
silent replica). The single hub runs on the server CPU; the two workers on both CPUs (so they share one with the
load generator and Redis), which is why the figure to read is deliveries per second of hub CPU (the workers'
CPU time summed), with the load generator's CPU printed apart. Redis' own cost per message is measured apart
(``bench._redis_cost``: 20,000 publishes of the hub's size to 1, 2, 8 and 32 subscribed connections, Redis' CPU
from ``INFO cpu``): what it takes to fan a message out to N hub processes, the figure that says how far one Redis
carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx

from bench import _redis_cost, fanout
from bench._context import Bench
from bench._report import Figure, num
from bench._services import BenchError, Service, redis_server

WORKERS = 2


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes under ``parent`` (multiprocessing's resource tracker is a child too)."""
    pids = []
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                pids.append(int(child))
        except OSError:
            continue
    return pids


async def workers_ready(service: Service, count: int, *, limit: float = 60.0) -> list[int]:
    """Wait until ``count`` workers run and each has had time to start (they answer on the one shared port)."""
    deadline = time.monotonic() + limit
    while len(pids := worker_pids(service.pid)) < count:
        if time.monotonic() > deadline:
            raise BenchError(f"{count} workers did not start (found {len(pids)})")
        await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=service.http_url) as http:
        while time.monotonic() < deadline:  # several ready answers in a row: the workers are all past start-up
            answers = [(await http.get("/readyz")).status_code for _ in range(20)]
            if all(code == 200 for code in answers):
                return pids
            await asyncio.sleep(0.5)
    raise BenchError("the workers did not get ready")


async def run(bench: Bench) -> None:
    sockets = bench.args.scale_sockets
    print(f"scale: room fan-out to {sockets:,} sockets, one hub process vs `serve --workers {WORKERS}`, one Redis")
    throughput = bench.add(Figure(f"scale, {sockets:,} sockets: deliveries/s, 2 workers vs 1 process", "1", num))
    per_core = bench.add(
        Figure(f"scale, {sockets:,} sockets: deliveries per hub CPU-second, 2 workers vs 1 process", "1", num)
    )
    redis_cost = bench.add(Figure("Redis CPU per message published, 32 subscribed processes vs 1", "1", micros))
    both = bench.placement.nth_server(0) | bench.placement.nth_server(1)
    async with redis_server(bench.placement.load) as redis:
        settings = {"redis_url": f"redis://127.0.0.1:{redis.port}/0", **fanout.HUB_SETTINGS}
        for _ in range(bench.runs(1)):
            results = []
            for count in (1, WORKERS):
                cpus = bench.placement.server if count == 1 else both
                hub_settings = settings if count == 1 else {**settings, "web_concurrency": count}
                pids: list[int] = []
                try:
                    async with bench.hub(cpus, silent=True, settings=hub_settings) as hub:
                        pids = [hub.pid] if count == 1 else await workers_ready(hub, count)
                        users = await bench.ensure_users(hub, fanout.USERS)
                        (room,) = await bench.rooms(hub, users)
                        label = "1 process" if count == 1 else f"{count} workers"
                        result = await fanout.measure(
                            bench, label, [(hub, hub.ws_url())], room, sockets, server_pids=pids, redis=redis.pid
                        )
                finally:
                    # A hub on a silent replica is killed, not stopped: its workers would outlive it.
                    for pid in pids:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                results.append(result)
                print(
                    f"{result.line()}; {num(result.deliveries / result.server_cpu)} deliveries per hub CPU-second,"
                    f" Redis busy {result.others_cpu['redis'] / result.seconds:.0%}",
                    flush=True,
                )
            one, two = results
            throughput.add(two.rate, one.rate)
            per_core.add(two.deliveries / two.server_cpu, one.deliveries / one.server_cpu)
        messages = 2_000 if bench.quick else 20_000
        costs = {n: await _redis_cost.per_message(redis.port, n, messages) for n in (1, 2, 8, 32)}
        print(
            "  Redis CPU per message published: "
            + ", ".join(f"{micros(cost)} to {n} subscriber{'s' if n > 1 else ''}" for n, cost in costs.items())
            + f" (≈ {micros(costs[1])} + {micros((costs[32] - costs[1]) / 31)} per more subscriber)",
            flush=True,
        )
        redis_cost.add(costs[32], costs[1])


def micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"
