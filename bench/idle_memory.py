"""Idle-socket memory: server RSS per authenticated idle WebSocket, ours against a bare websockets server.

What is measured: each server runs in a subprocess of its own; its resident set size (``VmRSS`` from
``/proc/<pid>/status``) is read once it has served a small warm-up batch of sockets (so one-time imports and
caches are not counted), and again after ``--count`` sockets are open, authenticated (``auth`` frame sent,
``hello`` received) and idle, once the RSS has settled. KiB per socket = (after - before) / count.

* **ours**: ``python -m server serve`` (uvicorn with the websockets-sansio protocol, the real settings:
  heartbeats on) with ``DATABASE_URL`` set to a scratch ``bench_<random>`` database (migrated by the app,
  dropped at the end); every socket uses one user's access token.
* **bare**: ``python -m bench._bare`` (``websockets.asyncio.server.serve``; reads one frame, answers a
  ``hello``, then waits for the close), default ping settings.

The sockets are opened by ``--processes`` client subprocesses (``bench._client``, default 2, so that each
stays well under the open-file limit); every process raises ``RLIMIT_NOFILE`` to its hard limit.

Run from the repository root::

    .venv/bin/python -m bench.idle_memory                # 10,000 sockets each
    .venv/bin/python -m bench.idle_memory --count 2000

Needs PostgreSQL: 127.0.0.1:5432 (user postgres, trust) or ``BENCH_DATABASE_URL``, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bench._common import (
    JWT_SECRET,
    REPO,
    ClientGroup,
    free_port,
    raise_nofile,
    rss_kib,
    scratch_database,
    signup_and_login,
)

GOAL_KIB = 20.0
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
            f"{self.name:>5}: RSS {self.before_kib / 1024:7.1f} MiB -> {self.after_kib / 1024:7.1f} MiB"
            f" for {self.count:,} sockets = {self.per_socket:6.1f} KiB/socket"
            f"  (connect+auth {self.connect_seconds:.1f} s)"
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


@asynccontextmanager
async def subprocess(argv: list[str], env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(*argv, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(20):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def measure(name: str, pid: int, url: str, token: str, args: argparse.Namespace) -> Result:
    warm = ClientGroup(url, WARM_UP_SOCKETS, token=token)
    try:
        await warm.start()
    finally:
        await warm.stop()
    await asyncio.sleep(1)
    before = await settled_rss(pid)
    clients = ClientGroup(url, args.count, token=token, processes=args.processes, concurrency=args.concurrency)
    try:
        ready = await clients.start(timeout=120)
        after = await settled_rss(pid)
    finally:
        await clients.stop()
    return Result(name, args.count, before, after, max(r["seconds"] for r in ready))


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if await check():
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


async def run_bare(args: argparse.Namespace) -> Result:
    port = free_port()
    async with subprocess([sys.executable, "-m", "bench._bare", "--port", str(port)], dict(os.environ)) as proc:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        if line.strip() != b"listening":
            raise RuntimeError(f"bare server did not start: {line!r}")
        return await measure("bare", proc.pid, f"ws://127.0.0.1:{port}/", "bare-token", args)


async def run_ours(args: argparse.Namespace) -> Result:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    async with scratch_database() as dsn:
        with tempfile.TemporaryDirectory(prefix="sensay-hub-bench-") as tmp:
            env = {
                **os.environ,
                "DATABASE_URL": dsn,
                "JWT_SECRET": JWT_SECRET,
                "PORT": str(port),
                "DATA_DIR": tmp,
                "LOG_LEVEL": "warning",
            }
            async with subprocess([sys.executable, "-m", "server", "serve"], env) as proc:

                async def ready() -> bool:
                    async with httpx.AsyncClient(timeout=2) as http:
                        return (await http.get(f"{base_url}/readyz")).status_code == 200

                await wait_until(ready, "our server to be ready")
                token = await signup_and_login(base_url)
                return await measure("ours", proc.pid, f"ws://127.0.0.1:{port}/ws", token, args)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="idle sockets per server (default 10000)")
    parser.add_argument("--processes", type=int, default=2, help="client processes sharing them (default 2)")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight per client process")
    args = parser.parse_args()
    limit = raise_nofile()
    if args.count // args.processes + 64 > limit:
        raise SystemExit(f"open-file limit {limit} is too low for {args.count} sockets: raise --processes")
    print(f"idle memory: {args.count:,} authenticated idle sockets per server")
    bare = await run_bare(args)
    print(bare.line(), flush=True)
    ours = await run_ours(args)
    print(ours.line())
    ratio = ours.per_socket / bare.per_socket if bare.per_socket else float("inf")
    verdict = "met" if ours.per_socket <= GOAL_KIB else "NOT met"
    print(f"ratio ours/bare: {ratio:.2f}x; ours {ours.per_socket:.1f} KiB/socket (goal <= {GOAL_KIB:.0f}: {verdict})")


if __name__ == "__main__":
    asyncio.run(main())
