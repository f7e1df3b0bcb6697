"""Shared pieces of the benchmarks: a scratch database, process limits, RSS, and client subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from server.store.embedded import running_or_temporary, with_database

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = "bench-secret-" + "x" * 40
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it); return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from ``/proc/<pid>/status`` (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A fresh, empty ``bench_<random>`` database (the app's lifespan migrates it), dropped afterwards."""
    admin_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    async with running_or_temporary(admin_url, prefix="sensay-hub-bench-pg-") as admin:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        await _admin(admin, f'CREATE DATABASE "{name}"')
        try:
            yield with_database(admin, name)
        finally:
            await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def signup_and_login(base_url: str) -> str:
    """Create the benchmark user on our server and return an access token."""
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post("/api/auth/signup", json={"email": EMAIL, "password": PASSWORD})
        if response.status_code not in (201, 409):
            raise RuntimeError(f"signup failed: {response.status_code} {response.text}")
        response = await http.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        response.raise_for_status()
        return str(response.json()["access_token"])


class ClientGroup:
    """``processes`` client subprocesses (``bench._client``) sharing ``count`` sockets to one URL."""

    def __init__(self, url: str, count: int, *, token: str, processes: int = 1, **options: Any) -> None:
        self.url = url
        self.count = count
        self.token = token
        self.processes = max(1, min(processes, count))
        self.options = options
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Start the clients, wait until every socket got its ``hello``; return their ``ready`` reports."""
        share, extra = divmod(self.count, self.processes)
        env = {**os.environ, "BENCH_TOKEN": self.token}
        for index in range(self.processes):
            argv = [sys.executable, "-m", "bench._client", "--url", self.url, "--count", str(share + (index < extra))]
            for key, value in self.options.items():
                argv += [f"--{key.replace('_', '-')}", str(value)]
            self.procs.append(
                await asyncio.create_subprocess_exec(
                    *argv, cwd=REPO, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
                )
            )
        async with asyncio.timeout(timeout):
            reports = [await self.expect(proc, "ready") for proc in self.procs]
        failed = sum(r["failed"] for r in reports)
        if failed:
            raise RuntimeError(f"{failed} of {self.count} client sockets failed to authenticate: {reports}")
        return reports

    @staticmethod
    async def expect(proc: asyncio.subprocess.Process, event: str) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client {proc.pid} exited (code {await proc.wait()}) before reporting {event!r}")
        report: dict[str, Any] = json.loads(line)
        if report.get("event") != event:
            raise RuntimeError(f"client {proc.pid}: expected {event!r}, got {report}")
        return report

    async def results(self, timeout: float) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            return [await self.expect(proc, "done") for proc in self.procs]

    async def stop(self) -> None:
        """Close stdin (the clients' signal to disconnect and exit) and wait for them, killing stragglers."""
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
        for proc in self.procs:
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
