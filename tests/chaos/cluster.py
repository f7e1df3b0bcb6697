"""Real processes for the chaos tests: hub processes (`sensay-hub serve`), a standalone local replica
(`sensay-hub local-replica`) and a private `redis-server`, each on a free port, each killable."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import IO, Final

import httpx

from tests.services import free_port

READY_TIMEOUT = 60.0
SECRET = "chaos-organization-secret-7d1e"
JWT_SECRET = "chaos-jwt-secret-that-is-long-enough-0123456789"


async def _until(check_url: str, process: subprocess.Popen[bytes], what: str, timeout: float = READY_TIMEOUT) -> None:
    async with httpx.AsyncClient(timeout=1.0) as http:
        async with asyncio.timeout(timeout):
            while True:
                assert process.poll() is None, f"{what} exited with {process.returncode}"
                try:
                    if (await http.get(check_url)).status_code < 500:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)


class Process:
    """A child process with its output in a file (shown when a test fails)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = directory / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


OUTAGE_NOISE: Final = ("rate limit store failed", "publish failed after")
"""Log lines a hub writes for every request while Redis is away."""
LOG_TAIL: Final = 20_000
"""Characters of each process's (filtered) output shown when a chaos test fails."""


class PrivateRedis:
    """A `redis-server` of the test's own (no persistence), so it can be restarted under the hubs."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server") or "redis-server"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = Process("redis", args, {"PATH": os.environ.get("PATH", "")}, directory)

    async def start(self) -> None:
        self.process.start()
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                except OSError:
                    await asyncio.sleep(0.05)

    async def restart(self) -> None:
        self.process.kill()
        await self.start()


class Cluster:
    """Three hubs on one database and one Redis, sharing one standalone local replica."""

    def __init__(self, database_url: str, *, hubs: int = 3, word_delay: float = 0.05, lease: float = 2.0) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sensay-hub-chaos-"))
        self.database_url = database_url
        self.redis = PrivateRedis(self.directory)
        self.replica_port = free_port()
        self.replica_url = f"http://127.0.0.1:{self.replica_port}"
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        self.replica = Process(
            "replica",
            [sys.executable, "-m", "server", "local-replica", "--port", str(self.replica_port)],
            {**base, "SENSAY_API_KEY": SECRET, "LOCAL_REPLICA_WORD_DELAY": str(word_delay), "LOG_LEVEL": "warning"},
            self.directory,
        )
        self.ports = [free_port() for _ in range(hubs)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.hubs = [
            Process(
                f"hub{index}",
                [sys.executable, "-m", "server", "serve", "--port", str(port)],
                {
                    **base,
                    "DATABASE_URL": database_url,
                    "REDIS_URL": self.redis.url,
                    "REDIS_PREFIX": "chaos",
                    "SENSAY_API_KEY": SECRET,
                    "SENSAY_API_URL": self.replica_url,
                    "SENSAY_TIMEOUT": "5",
                    "REPLY_LEASE_SECONDS": str(lease),
                    "JWT_SECRET": JWT_SECRET,
                    "ANON_KEY": "chaos-anon-key",
                    "DATA_DIR": str(self.directory / f"data{index}"),
                    "EMBEDDED_DATABASE": "0",
                    "ACCESS_LOG": "0",
                    "LOG_LEVEL": "warning",
                    "RATE_LIMIT_SIGNUP": "1000/minute",
                    "RATE_LIMIT_LOGIN": "1000/minute",
                    "RATE_LIMIT_EMAIL": "1000/minute",
                    "WS_HEARTBEAT_INTERVAL": "2",
                },
                self.directory,
            )
            for index, port in enumerate(self.ports)
        ]

    async def start(self) -> None:
        await self.redis.start()
        self.replica.start()
        assert self.replica.process is not None
        await _until(f"{self.replica_url}/local/chats", self.replica.process, "the local replica")
        # One hub migrates first; the others then start together.
        await self.start_hub(0)
        await asyncio.gather(*(self.start_hub(index) for index in range(1, len(self.hubs))))

    async def start_hub(self, index: int) -> None:
        hub = self.hubs[index]
        hub.start()
        assert hub.process is not None
        await _until(f"{self.urls[index]}/healthz", hub.process, hub.name)

    def stop(self) -> None:
        for process in [*self.hubs, self.replica, self.redis.process]:
            process.stop()

    def logs(self) -> str:
        """The end of each process's output, without the lines that every request repeats during an outage (they
        pushed a hub's lines from the moment of a Redis restart out of the 6,000 characters shown before)."""
        parts = []
        for process in [*self.hubs, self.replica]:
            lines = process.output().splitlines()
            kept = [line for line in lines if not any(noise in line for noise in OUTAGE_NOISE)]
            shown = "\n".join(kept)[-LOG_TAIL:]
            parts.append(f"----- {process.name} ({len(lines) - len(kept)} repeated outage lines left out)\n{shown}")
        return "\n".join(parts)

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    async def sensay_calls(self) -> Counter[str]:
        """Chat completions the local replica received, per content."""
        async with httpx.AsyncClient(base_url=self.replica_url, timeout=5) as http:
            answer = await http.get("/local/chats", headers={"X-ORGANIZATION-SECRET": SECRET})
        answer.raise_for_status()
        calls: Counter[str] = Counter()
        for item in answer.json()["messages"]:
            calls[item["content"]] += item["count"]
        return calls
