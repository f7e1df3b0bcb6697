"""Room fan-out: R sockets in one room, senders posting ``room.send`` over real sockets, against bare websockets.

Per size R, in one run: the bare server (``bench._bare``: ack, then one ``websockets.broadcast`` of the message
frame) and a fresh hub, each pinned to the server CPU, the load generator on the other. The load generator
opens R receiving sockets (``auth`` → ``hello`` → ``room.join`` → ``room.presence``; the seconds this takes are
printed as the join time) and the senders, which join too (the hub takes ``room.send`` only on a joined room),
so the room holds R receivers + S senders on both servers, and every message is delivered to all of them.
Senders post ``room.send`` closed loop: at most 18 a second each (under the hub's per-socket limit of 20), and
at most ``inflight`` messages not yet counted by every receiver, so the server is saturated without its queues
growing. Printed:

* deliveries/s: room ``message`` frames received in the measured window by all R + S members / its seconds
  (the receivers count them in the raw byte stream, the senders recognise them without parsing);
* server CPU per delivery (its CPU time in the window / deliveries) and how busy its CPU was;
* the load generator's CPU, which must stay below 100% for the figure to be the server's.

The room has a replica that answers as the showcase's rooms do (a process of its own, ``REPLICA_LATENCY`` seconds
before each answer and ``REPLICA_WORD_DELAY`` between streamed words, or ``--room-replica``): users' messages start
runs, the replica answers between them, and the room carries its frames (``room.turns``, ``reply.started``,
``reply.delta``, the replica's ``message``) along with the users' messages; the baseline's room carries only the
users' messages. Two ratios are printed: users' messages delivered (the goal) and every frame the hub sent to the
counting receivers per second against the bare server's, with the frames each receiver got per user message
(1.00 when nothing else reached the room). The hub runs with
``WS_SEND_QUEUE=4096`` (headroom for the in-flight budget) and ``WS_HEARTBEAT_INTERVAL=3600`` (counting sockets
do not parse frames, so they cannot answer pings); everything else is as shipped.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from dataclasses import dataclass, field

from bench._context import Bench
from bench._report import Figure, num
from bench._services import BenchError, Replica, Service, bare_server, local_replica

SOCKET_RATE = 18.0
DELIVERY_CEILING = 300_000
"""Deliveries a second the senders can offer: about twice the fastest bare server measured here."""
INFLIGHT_DELIVERIES = 8_000
"""Deliveries in flight the load generator allows (as whole messages: at least 4)."""
USERS = 10
REPLICA_LATENCY = 1.0
"""Seconds the room's replica takes before it answers (Sensay's first token takes about this long)."""
REPLICA_WORD_DELAY = 0.02
"""Seconds between its streamed words."""
GOAL_RATIO = 0.8
HUB_SETTINGS: dict[str, object] = {"ws_send_queue": 4096, "ws_heartbeat_interval": 3600}


@dataclass
class Result:
    name: str
    sockets: int
    deliveries: int
    seconds: float
    server_cpu: float
    server_waited: float
    load_cpu: float
    join_seconds: float
    frames: int
    senders: int
    counted_receivers: int
    others_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0

    @property
    def frame_rate(self) -> float:
        """Every frame the members got per second (the receivers' count, scaled to the senders as members)."""
        per_message = self.frames / self.counted_receivers if self.counted_receivers else 0.0
        return self.rate * per_message

    @property
    def cpu_per_delivery(self) -> float:
        return self.server_cpu / self.deliveries if self.deliveries else math.nan

    def line(self) -> str:
        return (
            f"  {self.name:>5}: {num(self.rate):>9} deliveries/s, server {num(self.cpu_per_delivery * 1e6, 1)} µs"
            f" CPU/delivery (busy {self.server_cpu / self.seconds:.0%}, waited for a CPU"
            f" {self.server_waited / self.seconds:.0%}), load generator busy {self.load_cpu / self.seconds:.0%};"
            f" {self.frames / self.counted_receivers:.2f} frames per message; {self.sockets:,} + {self.senders}"
            f" senders in the room; the {self.sockets:,} joined in"
            f" {self.join_seconds:.1f} s"
        )


def senders_for(sockets: int) -> int:
    return min(200, max(4, math.ceil(DELIVERY_CEILING / sockets / SOCKET_RATE)))


async def measure(
    bench: Bench,
    name: str,
    servers: list[tuple[Service, str]],
    room: str,
    sockets: int,
    *,
    server_pids: list[int] | None = None,
    **others: int,
) -> Result:
    """Open the receivers and senders (split evenly over ``servers``, as ``(service, ws url)``), run the senders,
    close both; raise if a socket was dropped or an error frame came back. The server's CPU is read from
    ``server_pids`` (default: each service's process); ``others`` are more processes whose CPU the load
    generator reads (their CPU is not the server's)."""
    load, nonce = bench.load, bench.nonce()
    users = bench.users[:USERS]
    pids = {f"server{i}": pid for i, pid in enumerate(server_pids or [service.pid for service, _ in servers])}
    receivers = [f"rx{i}-{nonce}" for i in range(len(servers))]
    senders = [f"tx{i}-{nonce}" for i in range(len(servers))]
    opened: list[str] = []
    try:
        join_seconds = 0.0
        for i, (_, url) in enumerate(servers):
            share = sockets // len(servers) + (i < sockets % len(servers))
            opened.append(receivers[i])
            joined = await load.open(receivers[i], url, users, share, join=room, counting=True, concurrency=100)
            join_seconds += joined["seconds"]
        senders_total = 0
        for i, (_, url) in enumerate(servers):
            opened.append(senders[i])
            count = math.ceil(senders_for(sockets) / len(servers))
            senders_total += count
            await load.open(senders[i], url, users, count, join=room, concurrency=100)
        async with bench.profiled(servers[0][0], f"fanout-{sockets}-{name.replace(' ', '')}"):
            report = await load.call(
                "run",
                senders=senders,
                receivers=receivers,
                kind="room",
                targets=[room],
                nonce=nonce,
                window=4,
                socket_rate=SOCKET_RATE,
                inflight=max(4, math.ceil(INFLIGHT_DELIVERIES / sockets)),
                warmup=bench.args.warmup,
                duration=bench.args.duration,
                drain=1.0,
                pids={**pids, **others},
            )
    finally:
        for group in opened:
            with contextlib.suppress(BenchError):  # a group whose opening failed; that failure is the one to see
                await load.close(group)
    if report["dropped"] or report["errors"]:
        raise BenchError(
            f"{name}: dropped sockets {report['dropped']} (close codes {report['close_codes']}),"
            f" error frames {report['errors']}"
        )
    if not report["deliveries"]:
        raise BenchError(f"{name}: no deliveries in the measured window")
    cpu = report["cpu"]
    return Result(
        name,
        sockets,
        report["deliveries"] + report["sender_deliveries"],
        report["seconds"],
        sum(cpu[p] for p in pids),
        sum(cpu[f"{p}.waited"] for p in pids),
        report["load_cpu"],
        join_seconds,
        report["frames"],
        senders_total,
        report["deliveries"],
        {p: cpu[p] for p in others},
    )


async def run(bench: Bench) -> None:
    sizes: list[int] = bench.args.fanout_sizes
    latency, word_delay = bench.args.room_replica
    print(
        f"room fan-out: {', '.join(f'{s:,}' for s in sizes)} sockets in one room with a replica answering after"
        f" {latency} s, {word_delay} s between words; hub settings {HUB_SETTINGS}"
    )
    async with local_replica(bench.placement.load, latency=latency, word_delay=word_delay) as replica:
        await _sizes(bench, sizes, replica)


async def _sizes(bench: Bench, sizes: list[int], replica: Replica) -> None:
    cpus = bench.placement.server
    for sockets in sizes:
        name = f"room fan-out, {sockets:,} sockets"
        throughput = bench.add(Figure(f"{name}: deliveries/s", "bare websockets", num, ratio_at_least=GOAL_RATIO))
        frames = bench.add(Figure(f"{name}: every frame sent/s", "bare websockets", num))
        cost = bench.add(
            Figure(
                f"{name}: server CPU per delivery",
                "bare websockets",
                lambda s: f"{s * 1e6:.1f} µs",
            )
        )
        print(f" {sockets:,} sockets, {senders_for(sockets)} senders:")
        for _ in range(bench.runs(3)):
            async with bare_server(cpus) as bare_service:
                target = [(bare_service, bare_service.ws_url("/"))]
                bare = await measure(bench, "bare", target, str(uuid.uuid4()), sockets)
            print(bare.line(), flush=True)
            async with bench.hub(replica=replica, settings=HUB_SETTINGS) as hub_service:
                users = await bench.ensure_users(hub_service, USERS)
                (room,) = await bench.rooms(hub_service, users, prime=False)
                ours = await measure(bench, "ours", [(hub_service, hub_service.ws_url())], room, sockets)
            print(ours.line())
            print(
                f"  ratio ours/bare: users' messages {ours.rate / bare.rate:.2f}x,"
                f" every frame {ours.frame_rate / bare.frame_rate:.2f}x",
                flush=True,
            )
            throughput.add(ours.rate, bare.rate)
            frames.add(ours.frame_rate, bare.frame_rate)
            cost.add(ours.cpu_per_delivery, bare.cpu_per_delivery)
