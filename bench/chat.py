"""Chat turns: turns/s and send → final reply latency with a zero-latency replica, against a bare relay.

One socket per user (``--chat-users`` users: each user's frames go to all of their sockets, so one each keeps
every turn's frames on one socket) sends ``chat.send`` to the local replica, which runs in its own process on
the load CPU (``bench._replica``: answers at once, streamed word by word), so its CPU is not charged to the hub.
A turn ends when the replica's final ``message`` answering it arrives (after its ``ack``, the user's own
``message`` and the ``reply.delta`` frames). Each socket takes one turn before anything is measured, since a
user's first turn also creates the user at Sensay and fills per-user caches.

* saturation: closed loop, one turn outstanding per socket, at most 18 sends a second each (the hub allows 20);
  turns/s = turns finished in the measured window / its seconds; hub CPU per turn from its CPU time;
* latency: open loop at ``--chat-rate`` turns a second on a fixed schedule; p99 of send → final ``message``.

The baseline is ``bench._bare`` relaying the same frames: ``ack`` and the user's ``message``, one streamed HTTP
request to the same replica (httpx, as our Sensay client), ``reply.started``, the ``reply.delta`` frames coalesced
as the hub coalesces them (``REPLY_DELTA_MS``, 40 ms: the first at once, then the rest), the final ``message``;
nothing stored. The goal is per hub core: turns per second of hub CPU (1 / CPU per turn) at least the relay's.
"""

from __future__ import annotations

import math
from typing import Any

from bench._context import Bench
from bench._report import Figure, ms, num, p99
from bench._services import REPLICA_ID, BenchError, Service, bare_server
from server.replies.pipeline import DELTA_INTERVAL

SOCKET_RATE = 18.0
GOAL_RATIO = 1.0
GOAL_P99 = 0.050
HUB_SETTINGS: dict[str, object] = {"rate_limit_signup": "100000/minute", "rate_limit_login": "100000/minute"}
"""The benchmark signs its users up from one address: the per-address sign-up limit would stop it."""


async def turns(bench: Bench, service: Service, url: str, rate: float | None) -> dict[str, Any]:
    load, nonce = bench.load, bench.nonce()
    group = f"chat-{nonce}"
    users = bench.users[: bench.args.chat_users]
    await load.open(group, url, users, len(users), concurrency=100)
    try:
        # One turn per socket first: a user's first turn also creates them at Sensay and fills per-user caches.
        await load.call(
            "run", senders=[group], kind="chat", targets=[REPLICA_ID], nonce=f"{nonce}w", warmup=0, duration=0.01
        )
        async with bench.profiled(service, f"chat-{'fixed' if rate else 'saturated'}"):
            report = await load.call(
                "run",
                senders=[group],
                kind="chat",
                targets=[REPLICA_ID],
                nonce=nonce,
                window=1,
                socket_rate=SOCKET_RATE,
                rate=rate,
                warmup=bench.args.warmup,
                duration=bench.args.duration,
                drain=30.0,
                pids={"server": service.pid, "replica": bench.replica.pid},
            )
    finally:
        await load.close(group)
    if report["dropped"] or report["errors"]:
        raise BenchError(f"dropped sockets {report['dropped']}, error frames {report['errors']}")
    return report


def describe(name: str, report: dict[str, Any]) -> str:
    done, seconds, cpu = report["completions"], report["seconds"], report["cpu"]
    latency, ack = report["latency"], report["ack_latency"]
    per_turn = cpu["server"] / done if done else math.nan
    return (
        f"  {name:>5}: {num(done / seconds):>6} turns/s; send → reply p50 {ms(latency['p50'])},"
        f" p99 {ms(latency['p99'])} (ack p99 {ms(ack['p99'])}; {report['unfinished']} unfinished);"
        f" server {ms(per_turn)} CPU/turn"
        f" (busy {cpu['server'] / seconds:.0%}, waited {cpu['server.waited'] / seconds:.0%}), replica"
        f" {ms(cpu['replica'] / done if done else math.nan)} CPU/turn, load generator busy"
        f" {report['load_cpu'] / seconds:.0%}; {report['deltas'] / max(1, report['finished']):.0f} deltas/turn"
    )


async def run(bench: Bench) -> None:
    args = bench.args
    print(f"chat turns: {args.chat_users} users, one socket each; latency at {args.chat_rate:,.0f} turns/s")
    saturation = bench.add(Figure("chat: turns/s at saturation", "bare relay", num))
    per_core = bench.add(Figure("chat: turns per second of server CPU", "bare relay", num, ratio_at_least=GOAL_RATIO))
    latency = bench.add(
        Figure(f"chat: p99 send → reply at {args.chat_rate:,.0f}/s", "bare relay", ms, at_most=GOAL_P99)
    )
    for _ in range(bench.runs(1)):
        async with bench.hub(settings=HUB_SETTINGS) as service:
            await bench.ensure_users(service, args.chat_users)
            ours = await turns(bench, service, service.ws_url(), None)
            print(describe("ours", ours), flush=True)
            ours_fixed = await turns(bench, service, service.ws_url(), args.chat_rate)
            print(describe("ours", ours_fixed), flush=True)
        async with bare_server(bench.placement.server, bench.replica, delta_ms=DELTA_INTERVAL * 1000) as service:
            bare = await turns(bench, service, service.ws_url("/"), None)
            print(describe("bare", bare), flush=True)
            bare_fixed = await turns(bench, service, service.ws_url("/"), args.chat_rate)
            print(describe("bare", bare_fixed), flush=True)
        saturation.add(ours["completions"] / ours["seconds"], bare["completions"] / bare["seconds"])
        per_core.add(ours["completions"] / ours["cpu"]["server"], bare["completions"] / bare["cpu"]["server"])
        latency.add(p99(ours_fixed), p99(bare_fixed))
