"""The processes a benchmark runs: our hub as a user starts it, the baselines, the local replica, Redis, and the
load generator; plus the scratch database, the benchmark users and rooms. Each runs in its own process, pinned
to the CPUs the :class:`~bench._common.Placement` gives it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import msgspec
from websockets.asyncio.client import connect

from bench._common import JWT_SECRET, REPO, free_port
from server.sensay.local import SOCRATES_UUID
from server.store.embedded import running_or_temporary, with_database

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery staple"
REPLICA_ID = SOCRATES_UUID


class BenchError(RuntimeError):
    """A benchmark could not run as designed (a process failed, sockets were dropped, frames went missing)."""


@dataclass
class Service:
    """A server process we started, listening on ``port``."""

    name: str
    proc: asyncio.subprocess.Process
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ws_url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def process(
    name: str, argv: list[str], *, cpus: set[int], env: dict[str, str] | None = None, port: int = 0, kill: bool = False
) -> AsyncIterator[Service]:
    """Start ``argv`` pinned to ``cpus``; on the way out terminate it (kill it after 20 s), or ``kill`` it at once."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    try:
        yield Service(name, proc, port)
    finally:
        if proc.returncode is None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
        await _wait_or_kill(proc, 20)


async def _wait_or_kill(proc: asyncio.subprocess.Process, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def run_once(name: str, argv: list[str], cpus: set[int]) -> bytes:
    """Run ``argv`` pinned to ``cpus`` to its end; its standard output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO, stdout=asyncio.subprocess.PIPE, preexec_fn=lambda: os.sched_setaffinity(0, cpus)
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise BenchError(f"{name} failed (exit code {proc.returncode})")
    return out


async def _says_listening(service: Service) -> None:
    assert service.proc.stdout is not None
    async with asyncio.timeout(30):
        line = await service.proc.stdout.readline()
    if line.strip() != b"listening":
        raise BenchError(f"{service.name} did not start (exit code {service.proc.returncode}): {line!r}")


async def _answers_ready(service: Service) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if service.proc.returncode is not None:
                raise BenchError(f"{service.name} exited with code {service.proc.returncode} during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{service.http_url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise BenchError(f"{service.name} was not ready within 60 s")


@dataclass
class Replica:
    url: str
    secret: str
    pid: int
    silent: bool


SILENT_SECONDS = 3600.0


@asynccontextmanager
async def local_replica(
    cpus: set[int], *, silent: bool = False, latency: float = 0.0, word_delay: float = 0.0
) -> AsyncIterator[Replica]:
    """The local replica in its own process (``bench._replica``); a ``silent`` one holds every chat request
    for an hour, so rooms see no replica turns while a benchmark measures the messages of their users; others
    wait ``latency`` seconds before answering and ``word_delay`` between streamed words."""
    port, secret = free_port(), secrets.token_urlsafe(24)
    argv = [sys.executable, "-m", "bench._replica", "--port", str(port)]
    argv += ["--latency", str(SILENT_SECONDS if silent else latency), "--word-delay", str(word_delay)]
    env = {"BENCH_REPLICA_SECRET": secret}
    async with process("local replica", argv, cpus=cpus, env=env, port=port) as svc:
        await _says_listening(svc)
        yield Replica(f"http://127.0.0.1:{port}", secret, svc.pid, silent)


@asynccontextmanager
async def bare_server(
    cpus: set[int],
    replica: Replica | None = None,
    *,
    pings: bool = False,
    dsn: str | None = None,
    delta_ms: float = 0.0,
) -> AsyncIterator[Service]:
    """The baseline (``bench._bare``); with ``replica`` it relays ``chat.send`` to it (``delta_ms``: coalescing its
    deltas as the hub does), with ``dsn`` it stores room messages there with group commit before acking."""
    port = free_port()
    argv = [sys.executable, "-m", "bench._bare", "--port", str(port)]
    env = {}
    if replica is not None:
        argv += ["--replica-url", replica.url, "--delta-ms", str(delta_ms)]
        env["BENCH_REPLICA_SECRET"] = replica.secret
    if dsn is not None:
        argv += ["--dsn", dsn]
    if pings:
        argv += ["--ping-interval", "20"]
    async with process("bare websockets", argv, cpus=cpus, env=env, port=port) as svc:
        await _says_listening(svc)
        yield svc


@asynccontextmanager
async def hub(
    dsn: str, replica: Replica, cpus: set[int], *, data_dir: Path, settings: dict[str, object] | None = None
) -> AsyncIterator[Service]:
    """Our server, started as a user starts it: ``python -m server serve`` configured by environment variables.

    ``settings`` become environment variables (``ws_send_queue=4096`` → ``WS_SEND_QUEUE=4096``). A hub on a silent
    replica is killed at the end: its graceful stop would wait for the replica turns it is still waiting for.
    """
    port = free_port()
    env = {
        "DATABASE_URL": dsn,
        "JWT_SECRET": JWT_SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "warning",
        "SENSAY_API_URL": replica.url,
        "SENSAY_API_KEY": replica.secret,
        **({"SENSAY_TIMEOUT": "600"} if replica.silent else {}),  # the most it allows
        # The load generator is one address holding thousands of sockets of a few users (joining all at once).
        "WS_MAX_SOCKETS_PER_ADDRESS": "1000000",
        "WS_MAX_SOCKETS_PER_USER": "100000",
        "WS_USER_FRAME_RATE": "1000000/second",
        **{key.upper(): str(value) for key, value in (settings or {}).items()},
    }
    argv = [sys.executable, "-m", "server", "serve"]
    async with process("sensay-hub", argv, cpus=cpus, env=env, port=port, kill=replica.silent) as svc:
        await _answers_ready(svc)
        yield svc


@asynccontextmanager
async def redis_server(cpus: set[int]) -> AsyncIterator[Service]:
    """A private Redis (no persistence) on a free port: the shared one is never touched."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise BenchError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    argv = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    async with process("redis", argv, cpus=cpus, port=port) as svc:
        deadline = time.monotonic() + 20
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError("the private redis-server did not start") from None
                await asyncio.sleep(0.05)
            else:
                writer.close()
                break
        yield svc


@asynccontextmanager
async def scratch_database(cpus: set[int] | None = None) -> AsyncIterator[tuple[str, str]]:
    """A fresh, empty ``bench_<random>`` database (the hub's start migrates it), dropped afterwards, and where its
    server runs.

    On ``BENCH_DATABASE_URL`` (an admin connection), else 127.0.0.1:5432, else an embedded PostgreSQL. ``cpus``:
    the PostgreSQL server runs on these CPUs meanwhile, when it runs on this machine and may be moved
    (:func:`postgres_on`), so that its work for the hub is not taken from the server under test's CPU.
    """
    admin_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    async with running_or_temporary(admin_url, prefix="sensay-hub-bench-pg-") as admin:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
            try:
                with postgres_on(await conn.fetchval("SELECT pg_backend_pid()"), cpus) as placed:
                    yield with_database(admin, name), placed
            finally:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.contextmanager
def postgres_on(backend_pid: int, cpus: set[int] | None) -> Iterator[str]:
    """Run the PostgreSQL server of ``backend_pid`` (a backend of ours: its parent is the server) on ``cpus``
    meanwhile, and put it back after: the server and its processes now, and the backends it starts for the
    benchmark's connections (they inherit the server's CPUs). Nothing is moved when the server is not on this
    machine (no such process, or not PostgreSQL's) or we may not move it. Gives what was done."""
    moved: dict[int, set[int]] = {}
    placed = "not moved"
    try:
        server = _parent(backend_pid) if cpus else None
        if server is not None and Path(f"/proc/{server}/comm").read_text().strip() in ("postgres", "postmaster"):
            for pid in [server, *(p for p in _pids() if _parent(p) == server)]:
                with contextlib.suppress(OSError):  # a backend that ended meanwhile
                    moved[pid] = os.sched_getaffinity(pid)
                    os.sched_setaffinity(pid, cpus or set())
            placed = (
                f"on CPU {sorted(cpus or set())} ({len(moved)} processes moved)" if moved else "not moved (not ours)"
            )
    except OSError as exc:  # not this machine's, or not ours to move
        placed = f"not moved ({exc.strerror or exc})"
    try:
        yield placed
    finally:
        for pid, before in moved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, before)


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent(pid: int) -> int | None:
    """The parent of ``pid`` (``None``: no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


async def end_open_work(dsn: str) -> None:
    """Settle as failed the work a stopped hub left open (room runs and replies handed back or in doubt), so that no
    later hub of the run takes it up."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE replies SET state = 'failed', code = 'internal_error', detail = 'the benchmark ended it',"
            " updated_at = now() WHERE state IN ('pending', 'running')"
        )
    finally:
        await conn.close()


# -- users and rooms, made through the hub's REST API ------------------------------------------------


@dataclass(frozen=True)
class User:
    id: str
    token: str


async def make_users(base_url: str, count: int, *, offset: int = 0) -> list[User]:
    """Sign ``count`` users up and log them in (a few at a time: each costs two argon2 hashes on the hub)."""
    gate = asyncio.Semaphore(4)

    async def one(http: httpx.AsyncClient, index: int) -> User:
        credentials = {"email": f"bench-{offset + index}@example.com", "password": PASSWORD}
        async with gate:
            response = await http.post("/api/auth/signup", json=credentials)
            if response.status_code not in (200, 201, 409):
                raise BenchError(f"signup failed: {response.status_code} {response.text}")
            response = await http.post("/api/auth/login", json=credentials)
        if response.status_code != 200:
            raise BenchError(f"login failed: {response.status_code} {response.text}")
        token = str(response.json()["access_token"])
        return User(str(jwt.decode(token, options={"verify_signature": False})["sub"]), token)

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        return list(await asyncio.gather(*(one(http, i) for i in range(count))))


async def make_room(base_url: str, creator: User, members: list[User], *, name: str = "bench") -> str:
    """A room of ``members`` with one replica (natural mode); returns its id."""
    body = {
        "name": name,
        "replica_ids": [REPLICA_ID],
        "member_ids": [u.id for u in members if u != creator][:50],
    }
    headers = {"Authorization": f"Bearer {creator.token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as http:
        response = await http.post("/api/rooms", json=body)
    if response.status_code != 201:
        raise BenchError(f"creating a room failed: {response.status_code} {response.text}")
    return str(response.json()["id"])


async def prime_rooms(service: Service, user: User, rooms: list[str]) -> None:
    """Post one message to each room and give its replica turn time to start.

    On a silent replica that turn never ends, and every later message only queues a run behind it: the rooms
    then carry only their users' messages. (Without this, the runs of the first messages end one by one,
    each announcing ``room.turns`` to the room, for a time that depends on the load.)
    """
    async with connect(service.ws_url(), compression=None) as ws:
        await ws.send(msgspec.json.encode({"type": "auth", "token": user.token}).decode())
        await ws.recv()
        for index, room in enumerate(rooms):
            # The hub answers room.send only from members of the room with the socket joined.
            await ws.send(msgspec.json.encode({"type": "room.join", "room_id": room}).decode())
            await _answer(ws, index, "room.presence")
            frame = {"type": "room.send", "id": f"prime-{uuid.uuid4().hex}", "room_id": room, "content": "hello"}
            await ws.send(msgspec.json.encode(frame).decode())
            await _answer(ws, index, "ack")
            await ws.send(msgspec.json.encode({"type": "room.leave", "room_id": room}).decode())
    await asyncio.sleep(0.5)


async def _answer(ws: Any, index: int, kind: str) -> None:
    """Read frames until one of type ``kind``; an ``error`` first fails the priming of room ``index``."""
    async with asyncio.timeout(30):
        while True:
            frame = msgspec.json.decode(await ws.recv())
            if frame.get("type") == kind:
                return
            if frame.get("type") == "error":
                raise BenchError(f"priming room {index} failed: {frame}")


# -- the load generator ------------------------------------------------------------------------------


class LoadGenerator:
    """The parent's handle on a ``bench._client`` process: one JSON line out, one back."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def call(self, op: str, *, timeout: float = 600, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(msgspec.json.encode({"op": op, **fields}) + b"\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(timeout):
            line = await self.proc.stdout.readline()
        if not line:
            raise BenchError(f"the load generator exited (code {await self.proc.wait()}) during {op!r}")
        reply: dict[str, Any] = msgspec.json.decode(line)
        if "error" in reply:
            raise BenchError(f"load generator, {op}: {reply['error']}")
        return reply

    async def open(self, group: str, url: str, users: list[User], count: int, **fields: Any) -> dict[str, Any]:
        """Open ``count`` sockets (tokens of ``users`` in turn); raise unless every one got ready."""
        reply = await self.call("open", group=group, url=url, tokens=[u.token for u in users], count=count, **fields)
        if reply["failed"]:
            await self.call("close", group=group)
            raise BenchError(f"{reply['failed']} of {count} sockets to {url} failed: {reply['failures']}")
        return reply

    async def close(self, group: str) -> None:
        await self.call("close", group=group)


@asynccontextmanager
async def load_generator(cpus: set[int]) -> AsyncIterator[LoadGenerator]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._client",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**24,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    try:
        yield LoadGenerator(proc)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # its signal to close the sockets and exit
        await _wait_or_kill(proc, 30)
