"""Scale across processes: the room fan-out on 1 and on 2 hub processes sharing a (private) Redis.

There is no ``sensay-hub serve --workers N`` yet, so the documented equivalent is used: N ``python -m server
serve`` processes on N ports with the same ``DATABASE_URL`` and ``REDIS_URL``, hub ``i`` pinned to CPU ``i``.
The receivers (``--scale-sockets``, all in one room) and the senders are split evenly over the hubs; each
message is stored by the sender's hub, published to Redis, and delivered by every hub to its own members.
Measured as in ``fanout`` (same senders, flow control and silent replica). Printed per N: deliveries/s,
deliveries per second of hub CPU (per core: total hub CPU time counts, not wall time, since with two hubs on
two CPUs the load generator and Redis share a CPU with a hub), and the load generator's and Redis' CPU apart.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from bench import fanout
from bench._context import Bench
from bench._report import Figure, num
from bench._services import Service, redis_server


async def run(bench: Bench) -> None:
    sockets = bench.args.scale_sockets
    print(f"scale: room fan-out to {sockets:,} sockets over 1 and 2 hub processes sharing a private Redis")
    throughput = bench.add(Figure(f"scale, {sockets:,} sockets: deliveries/s, 2 hubs vs 1", "1 hub", num))
    per_core = bench.add(
        Figure(f"scale, {sockets:,} sockets: deliveries per hub CPU-second, 2 hubs vs 1", "1 hub", num)
    )
    async with redis_server(bench.placement.load) as redis:
        settings = {"redis_url": f"redis://127.0.0.1:{redis.port}/0", **fanout.HUB_SETTINGS}
        for _ in range(bench.runs(1)):
            results = []
            for count in (1, 2):
                async with AsyncExitStack() as stack:
                    hubs: list[Service] = [
                        await stack.enter_async_context(
                            bench.hub(bench.placement.nth_server(i), silent=True, settings=settings)
                        )
                        for i in range(count)
                    ]
                    users = await bench.ensure_users(hubs[0], fanout.USERS)
                    (room,) = await bench.rooms(hubs[0], users)
                    servers = [(h, h.ws_url()) for h in hubs]
                    result = await fanout.measure(bench, f"{count} hub", servers, room, sockets, redis=redis.pid)
                results.append(result)
                print(
                    f"{result.line()}; {num(result.deliveries / result.server_cpu)} deliveries per hub CPU-second,"
                    f" Redis busy {result.others_cpu['redis'] / result.seconds:.0%}",
                    flush=True,
                )
            one, two = results
            throughput.add(two.rate, one.rate)
            per_core.add(two.deliveries / two.server_cpu, one.deliveries / one.server_cpu)
