"""Stored room messages: acks/s at saturation and p99 ack latency at a fixed offered rate, against PostgreSQL itself.

A fresh hub (pinned to the server CPU) on the run's scratch database; the load generator opens ``senders``
sockets (``senders / 4`` benchmark users in turn, so each user stays under the hub's per-user frame limit) that
post ``room.send`` to ``rooms`` rooms (socket ``i`` to room ``i % rooms``), each socket joined to the one room it
sends to, as the hub requires of a sender, and each room made of the users who send to it; so each send costs
its store, its ack and the room message to that room's ``senders / rooms`` sockets (20 by default):

* saturation: closed loop, one send outstanding per socket, at most 18 a second each (under the hub's limit of
  20); acks/s = acks received in the measured window / its seconds;
* latency: open loop at ``--stored-rate`` sends a second spread evenly over the sockets on a fixed schedule;
  latency = ack time - scheduled send time, p50/p99 over the sends scheduled in the window (sends not acked
  within the drain time are reported as unfinished).

The baseline is a bare server doing the same work in the same run (``bench._bare --dsn``, pinned to the server
CPU like the hub): it receives each ``room.send``, stores it in ``room_messages`` with group commit (one
``INSERT … FROM unnest`` and one commit for the sends of each millisecond), acks it and broadcasts the ``message``
frame to the same members, under the same load (saturation and the open loop). For information, PostgreSQL alone
(``bench._inserts``, on the load CPU): one row a commit, and 32 rows a commit (the database's ceiling). PostgreSQL
itself is shared and not pinned. The rooms' replica does not answer during the run (a silent replica and a
priming turn), so no replica turns compete: this benchmark is about storing users' messages.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from bench._context import Bench
from bench._report import Figure, ms, num, p99
from bench._services import BenchError, Service, User, bare_server, make_room, prime_rooms, run_once

SOCKET_RATE = 18.0
GOAL_RATIO = 0.8
GOAL_P99 = 0.020
GROUP = 32
SOCKETS_PER_USER = 4
"""Each user's sockets together stay under the hub's per-user frame limit (100/s) at the socket rate."""
HUB_SETTINGS: dict[str, object] = {
    "ws_max_sockets_per_address": 100_000,
    "rate_limit_signup": "100000/minute",
    "rate_limit_login": "100000/minute",
    "ws_heartbeat_interval": 3600,
}
"""The load comes from one address (and signs its users up from it): its limits would throttle the load. As in
``fanout``, no keep-alive pings: a saturated hub on a shared CPU can miss its 20 s pong deadline and drop a
socket, which fails the run though it says nothing about storing messages."""


async def inserts(bench: Bench, rooms: list[str], rate: float, batch: int = 1) -> dict[str, Any]:
    argv = [
        sys.executable, "-m", "bench._inserts", "--dsn", bench.dsn, "--rooms", ",".join(rooms),
        "--users", ",".join(u.id for u in bench.users), "--rate", str(rate),
        "--warmup", str(bench.args.warmup), "--duration", str(bench.args.duration),
        "--drain", "30", "--batch", str(batch),
    ]  # fmt: skip
    report: dict[str, Any] = json.loads(await run_once("the asyncpg baseline", argv, bench.placement.load))
    return report


async def make_rooms(bench: Bench, service: Service, users: list[User], count: int) -> list[str]:
    """``count`` rooms, each of the users whose sockets send to it (socket ``i``: user ``i % users``, room
    ``i % count``)."""
    senders = [set[int]() for _ in range(count)]
    for i in range(bench.args.stored_senders):
        senders[i % count].add(i % len(users))
    rooms = []
    for members in senders:
        creator = users[min(members)]
        rooms.append(await make_room(service.http_url, creator, [users[u] for u in sorted(members)]))
        await prime_rooms(service, creator, rooms[-1:])
    return rooms


async def sends(
    bench: Bench, service: Service, users: list[User], rooms: list[str], rate: float | None, path: str = "/ws"
) -> dict[str, Any]:
    load, nonce = bench.load, bench.nonce()
    group = f"stored-{nonce}"
    count = bench.args.stored_senders
    await load.open(group, service.ws_url(path), users, count, join=rooms, join_own=True, concurrency=100)
    try:
        async with bench.profiled(service, f"stored-{'fixed' if rate else 'saturated'}"):
            report = await load.call(
                "run",
                senders=[group],
                kind="room",
                targets=rooms,
                nonce=nonce,
                window=1,
                socket_rate=SOCKET_RATE,
                rate=rate,
                warmup=bench.args.warmup,
                duration=bench.args.duration,
                drain=30.0,
                pids={"server": service.pid},
            )
    finally:
        await load.close(group)
    if report["dropped"]:
        raise BenchError(f"dropped sockets {report['dropped']} (close codes {report['close_codes']})")
    return report


def describe(name: str, report: dict[str, Any], cpu: dict[str, float] | None = None) -> str:
    """One line; ``cpu`` is the hub's CPU readings, when the line is about the hub."""
    latency, seconds = report["latency"], report["seconds"]
    line = (
        f"  {name:>7}: {num(report['completions'] / seconds):>7} acks/s; latency p50 {ms(latency['p50'])},"
        f" p99 {ms(latency['p99'])}, max {ms(latency['max'])} ({latency['n']:,} samples,"
        f" {report['unfinished']} unfinished)"
    )
    if cpu is not None and report["completions"]:
        busy, waited = cpu["server"], cpu["server.waited"]
        line += f"; server {busy / report['completions'] * 1e6:,.0f} µs CPU/ack (busy {busy / seconds:.0%}, waited"
        line += f" {waited / seconds:.0%})"
    if report.get("errors"):
        line += f"; error frames {report['errors']}"
    return line


async def run(bench: Bench) -> None:
    args = bench.args
    print(
        f"stored room messages: {args.stored_senders} sockets sending to {args.stored_rooms} rooms;"
        f" latency at {args.stored_rate:,.0f}/s"
    )
    baseline = "bare server, group commit"
    throughput = bench.add(Figure("stored messages: acks/s at saturation", baseline, num, ratio_at_least=GOAL_RATIO))
    latency = bench.add(
        Figure(f"stored messages: p99 ack at {args.stored_rate:,.0f}/s", baseline, ms, at_most=GOAL_P99)
    )
    for _ in range(bench.runs(1)):
        async with bench.hub(silent=True, settings=HUB_SETTINGS) as service:
            users = await bench.ensure_users(service, math.ceil(args.stored_senders / SOCKETS_PER_USER))
            rooms = await make_rooms(bench, service, users, args.stored_rooms)
            saturated = await sends(bench, service, users, rooms, None)
            print(describe("ours", saturated, saturated["cpu"]), flush=True)
            fixed = await sends(bench, service, users, rooms, args.stored_rate)
            print(describe("ours", fixed, fixed["cpu"]), flush=True)
        async with bare_server(bench.placement.server, dsn=bench.dsn) as bare:
            bare_saturated = await sends(bench, bare, users, rooms, None, "/")
            print(describe("bare", bare_saturated, bare_saturated["cpu"]), flush=True)
            bare_fixed = await sends(bench, bare, users, rooms, args.stored_rate, "/")
            print(describe("bare", bare_fixed, bare_fixed["cpu"]), flush=True)
        base_saturated = await inserts(bench, rooms, 0.0)
        print(describe("asyncpg", base_saturated), flush=True)
        base_fixed = await inserts(bench, rooms, args.stored_rate)
        print(describe("asyncpg", base_fixed), flush=True)
        grouped = await inserts(bench, rooms, 0.0, batch=GROUP)
        print(f"{describe(f'asyncpg, {GROUP} rows a commit', grouped)} (the ceiling with group commit)", flush=True)
        throughput.add(
            saturated["completions"] / saturated["seconds"],
            bare_saturated["completions"] / bare_saturated["seconds"],
        )
        latency.add(p99(fixed), p99(bare_fixed))
