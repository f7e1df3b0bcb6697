"""Processes the tests start, stop and kill: private Redis and PostgreSQL servers (never the shared ones) and
our own commands (``sensay-hub local-replica``, ``serve``).

Redis is the ``redis-server`` on PATH (``.ci/run`` installs it); PostgreSQL comes from the ``pgserver`` wheel's
binaries, run as pgserver's unprivileged user when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

START_TIMEOUT = 30.0
SERVER = [sys.executable, "-m", "server"]


def base_env(**extra: str) -> dict[str, str]:
    """PATH and HOME only, so nothing of the runner's configuration leaks into a child process."""
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return env | extra


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = START_TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


class PrivateRedis:
    """A throw-away ``redis-server`` on a free port, without persistence: a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (.ci/run installs it)")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.directory / "redis.log").open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                "redis-server", *args, "--dir", str(self.directory), stdout=log, stderr=subprocess.STDOUT
            )
        await _until(self.answers)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)

    async def restart(self, down_for: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()

    async def answers(self) -> bool:
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except (OSError, RedisError):
            return False
        finally:
            await client.aclose()


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port, started and stopped with ``pg_ctl``.

    Its data lives in a directory of its own under the system's temp dir, not pytest's: pytest makes its base
    directory private (0700) at every session start, which would lock pgserver's user out mid-test.
    """

    def __init__(self) -> None:
        import pgserver

        self.bin = Path(pgserver.__file__).parent / "pginstall" / "bin"
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
        if os.geteuid() == 0:
            import pwd

            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self._user = "pgserver"
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.pgdata)
            ensure_folder_permissions(self.bin, 0o555)
            ensure_folder_permissions(self.bin.parent / "lib", 0o444)
            entry = pwd.getpwnam(self._user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        args = ["--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.pgdata)]
        subprocess.run([str(self.bin / "initdb"), *args], check=True, capture_output=True, user=self._user)

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
        )


@dataclass
class Process:
    """One child process, its log file, and how to stop it politely or with kill -9."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    async def spawn(self, stdout: int | None = None) -> asyncio.subprocess.Process:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else log,
                stderr=log,
            )
        return self.process

    async def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, leases and sockets are simply gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 20 s."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill9()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


async def start_local_replica(directory: Path, secret: str, word_delay: float = 0.0) -> tuple[Process, str]:
    """``sensay-hub local-replica`` on a free port; returns the process and the URL it printed."""
    process = Process(
        "local-replica",
        [*SERVER, "local-replica", "--port", "0"],
        base_env(SENSAY_API_KEY=secret, LOCAL_REPLICA_WORD_DELAY=str(word_delay)),
        directory / "local-replica.log",
    )
    child = await process.spawn(stdout=subprocess.PIPE)
    assert child.stdout is not None
    line = (await asyncio.wait_for(child.stdout.readline(), START_TIMEOUT)).decode()
    if "listening on " not in line:
        raise RuntimeError(f"the local replica did not start: {line!r}\n{process.tail()}")
    return process, line.split("listening on ", 1)[1].strip()
