"""The stored-messages baseline: the rows ``room.send`` stores, inserted straight by asyncpg from this process.

One ``INSERT … RETURNING`` per message, each its own transaction (a commit per message, as an ack after commit
needs), over a pool of ``--connections``: what PostgreSQL itself allows without batching, so the hub's ratio to
it says how much of the database's ceiling the hub reaches. With ``--batch N`` each transaction inserts N rows
in one round trip instead (``INSERT … SELECT … FROM unnest(…)``): the ceiling with group commit.
Closed loop (``--rate 0``: every connection inserts back to back) or open loop at ``--rate`` rows a second on
a fixed schedule (latency from the scheduled time).

Run as ``python -m bench._inserts --dsn … --rooms R1,R2 --users U1,U2 --duration S [--rate N]``; prints one JSON
line: rows inserted in the measured window, its seconds, latency percentiles, and this process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import time
import uuid

import asyncpg

from bench._common import percentiles, run

COLUMNS = "id, room_id, seq, sender, user_id, message, client_id, created_at"
INSERT = f"""
    INSERT INTO room_messages (room_id, seq, sender, user_id, message, client_id)
    VALUES ($1, $2, 'user', $3, $4, $5) RETURNING {COLUMNS}
"""
INSERT_MANY = f"""
    INSERT INTO room_messages (room_id, seq, sender, user_id, message, client_id)
    SELECT r, s, 'user', u, m, c FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[])
        AS t(r, s, u, m, c)
    RETURNING {COLUMNS}
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--rooms", required=True, help="comma-separated room ids")
    parser.add_argument("--users", required=True, help="comma-separated user ids (members of the rooms)")
    parser.add_argument("--connections", type=int, default=20, help="pool size (the hub's pool is 20)")
    parser.add_argument("--rate", type=float, default=0.0, help="rows a second, open loop (0: closed loop)")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument("--content-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1, help="rows per transaction, closed loop only (default 1)")
    args = parser.parse_args()
    rooms = [uuid.UUID(r) for r in args.rooms.split(",")]
    users = [uuid.UUID(u) for u in args.users.split(",")]
    content = ("bench " + "x" * max(0, args.content_size - 6)).strip()
    nonce = uuid.uuid4().hex[:8]
    base = time.time_ns() // 1000  # seq values far above any the hub hands out, unique per run
    counter = itertools.count()
    pool = await asyncpg.create_pool(args.dsn, min_size=args.connections, max_size=args.connections)
    assert pool is not None
    latencies: list[float] = []
    window = [math.inf, math.inf]
    done = [0]

    async def insert(started: float) -> None:
        numbers = [next(counter) for _ in range(args.batch)]
        async with pool.acquire() as conn:
            if args.batch == 1:
                n = numbers[0]
                await conn.fetchrow(
                    INSERT, rooms[n % len(rooms)], base + n, users[n % len(users)], content, f"{nonce}.{n}"
                )
            else:
                await conn.fetch(
                    INSERT_MANY,
                    [rooms[n % len(rooms)] for n in numbers],
                    [base + n for n in numbers],
                    [users[n % len(users)] for n in numbers],
                    [content] * len(numbers),
                    [f"{nonce}.{n}" for n in numbers],
                )
        now = time.monotonic()
        if window[0] <= started < window[1]:
            latencies.append(now - started)
        if window[0] <= now < window[1]:
            done[0] += len(numbers)

    start = time.monotonic()
    end = start + args.warmup + args.duration
    tasks: list[asyncio.Task[None]] = []
    if args.rate:
        at = start
        while at < end:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            if window[0] == math.inf and at >= start + args.warmup:
                window[:] = [time.monotonic(), end]
                cpu = time.process_time()
            tasks.append(asyncio.create_task(insert(at)))
            at += 1.0 / args.rate
    else:

        async def worker() -> None:
            while time.monotonic() < end:
                await insert(time.monotonic())

        tasks = [asyncio.create_task(worker()) for _ in range(args.connections)]
        await asyncio.sleep(args.warmup)
        window[:] = [time.monotonic(), end]
        cpu = time.process_time()
        await asyncio.sleep(max(0.0, end - time.monotonic()))
    window[1] = time.monotonic()
    cpu = time.process_time() - cpu
    _, pending = await asyncio.wait(tasks, timeout=args.drain) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    await pool.close()
    report = {
        "seconds": window[1] - window[0],
        "completions": done[0],
        "unfinished": len(pending),
        "latency": percentiles(latencies),
        "cpu": cpu,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    run(main())
