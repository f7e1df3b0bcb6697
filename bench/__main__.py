"""``python -m bench``: the live-path benchmarks of the hub, each against its baseline in the same run.

Every benchmark drives the hub as a front end does (frames over real sockets from a separate load-generator
process) with the hub started as a user starts it (``python -m server serve`` and environment settings), and
prints ours, the baseline and the ratio; a summary table of all figures ends the run. ``--quick`` runs each at
a tiny size to check that it works (not its figures); the exit code is non-zero when a benchmark failed to run.

Needs PostgreSQL (``BENCH_DATABASE_URL`` as an admin URL, else 127.0.0.1:5432 as user postgres, else an embedded
one) for a scratch database, and ``redis-server`` for the ``scale`` benchmark (a private instance).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import changes, chat, connects, fanout, idle_memory, scale, stored
from bench._common import Placement, raise_nofile, run
from bench._context import Bench
from bench._report import machine, table
from bench._services import BenchError, hub, load_generator, local_replica, make_users, scratch_database

BENCHMARKS: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "fanout": fanout.run,
    "stored": stored.run,
    "chat": chat.run,
    "connects": connects.run,
    "memory": idle_memory.run,
    "scale": scale.run,
    "changes": changes.run,
}
SETUP_USERS = 10


def sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def pair(text: str) -> tuple[float, float]:
    first, _, second = text.partition(",")
    return float(first), float(second or 0)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "benchmarks", nargs="*", metavar="benchmark", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each: checks they work")
    parser.add_argument("--runs", type=int, help="runs of each benchmark (default 3 where cheap, else 1)")
    parser.add_argument("--profile", metavar="DIR", help="sample the hub with py-spy while each load runs, into DIR")
    parser.add_argument("--duration", type=float, help="seconds each load is measured (default 3)")
    parser.add_argument("--warmup", type=float, help="seconds of load before measuring (default 0.5)")
    parser.add_argument("--fanout-sizes", type=sizes, help="room sizes (default 100,1000,5000)")
    parser.add_argument(
        "--room-replica",
        type=pair,
        metavar="LATENCY,WORD_DELAY",
        help="the fan-out rooms' replica: seconds before it answers, between its words (default 1,0.02)",
    )
    parser.add_argument("--stored-senders", type=int, help="sockets sending room.send (default 400)")
    parser.add_argument("--stored-rooms", type=int, help="rooms they send to (default 20)")
    parser.add_argument("--stored-rate", type=float, help="offered rate for the latency run (default 1000/s)")
    parser.add_argument("--chat-users", type=int, help="users chatting, one socket each (default 100)")
    parser.add_argument("--chat-rate", type=float, help="offered turns/s for the latency run (default 150)")
    parser.add_argument("--connects", type=int, help="authenticated connects per run (default 2000)")
    parser.add_argument("--idle-sockets", type=int, help="idle sockets for the memory benchmark (default 10000)")
    parser.add_argument("--scale-sockets", type=int, help="room size for the scale benchmark (default 1000)")
    parser.add_argument("--changes", type=int, help="task writes per load of the changes benchmark (default 300)")
    args = parser.parse_args(argv)
    full = {
        "duration": 3.0,
        "warmup": 0.5,
        "fanout_sizes": [100, 1000, 5000],
        "room_replica": (fanout.REPLICA_LATENCY, fanout.REPLICA_WORD_DELAY),
        "stored_senders": 400,
        "stored_rooms": 20,
        "stored_rate": 1000.0,
        "chat_users": 100,
        "chat_rate": 150.0,
        "connects": 2000,
        "idle_sockets": 10_000,
        "scale_sockets": 1000,
        "changes": 300,
    }
    quick = {
        "duration": 0.5,
        "warmup": 0.2,
        "fanout_sizes": [20],
        "room_replica": (0.1, 0.0),
        "stored_senders": 8,
        "stored_rooms": 2,
        "stored_rate": 40.0,
        "chat_users": 4,
        "chat_rate": 10.0,
        "connects": 50,
        "idle_sockets": 100,
        "scale_sockets": 20,
        "changes": 10,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = set(args.benchmarks) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    args.benchmarks = args.benchmarks or list(BENCHMARKS)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return args


async def main(args: argparse.Namespace) -> int:
    raise_nofile()
    placement = Placement()
    started = time.monotonic()
    print("\n".join(machine(placement)), flush=True)
    failed: list[str] = []
    async with (
        scratch_database(placement.load if placement.pinned else None) as (dsn, postgres),
        local_replica(placement.load) as replica,
        local_replica(placement.load, silent=True) as silent,
    ):
        with tempfile.TemporaryDirectory(prefix="sensay-hub-bench-") as tmp:
            async with load_generator(placement.load) as load:
                print(f"PostgreSQL: {postgres}", flush=True)
                bench = Bench(args, placement, dsn, Path(tmp), replica, silent, load)
                # One hub migrates the scratch database and signs the benchmark users up.
                async with hub(dsn, replica, placement.server, data_dir=Path(tmp)) as setup:
                    bench.users = await make_users(setup.http_url, SETUP_USERS)
                for name in args.benchmarks:
                    print(flush=True)
                    began = time.monotonic()
                    try:
                        await BENCHMARKS[name](bench)
                    except (BenchError, OSError, TimeoutError) as exc:
                        failed.append(name)
                        print(f"{name}: FAILED: {exc}")
                    except Exception:
                        failed.append(name)
                        print(f"{name}: FAILED")
                        traceback.print_exc()
                    print(f"({name}: {time.monotonic() - began:.1f} s)", flush=True)
    print()
    print("\n".join(table(bench.figures)))
    print(
        f"\n{len(args.benchmarks) - len(failed)} of {len(args.benchmarks)} benchmarks ran"
        f"{'; failed: ' + ', '.join(failed) if failed else ''} ({time.monotonic() - started:.0f} s in all)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(run(main(parse())))
