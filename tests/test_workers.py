"""`sensay-hub serve --workers N`: N processes on one port, sharing PostgreSQL and Redis, act as one hub."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from pathlib import Path

import httpx

from server.sensay.local import ADA_LOVELACE_UUID

from .conftest import bearer
from .databases import DatabaseFactory
from .test_cli import run_cli, serving
from .utils import connect, signup_and_login


def workers(pid: int) -> list[int]:
    """The worker processes under ``pid`` (multiprocessing's resource tracker is a child too)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            found.append(int(child))
    return found


def test_workers_need_a_shared_database_and_redis() -> None:
    """Several processes cannot share the embedded database or an in-process broker: exit 2 naming what to set."""
    no_database = run_cli("serve", "--workers", "2")
    assert no_database.returncode == 2, no_database.stdout + no_database.stderr
    assert "DATABASE_URL" in no_database.stderr and "Traceback" not in no_database.stderr
    no_redis = run_cli("serve", "--workers", "2", DATABASE_URL="postgresql://127.0.0.1/nowhere")
    assert no_redis.returncode == 2, no_redis.stdout + no_redis.stderr
    assert "REDIS_URL" in no_redis.stderr


async def test_two_workers_on_one_port_serve_one_room(
    tmp_path: Path, databases: DatabaseFactory, shared_redis: str
) -> None:
    """Sockets spread over two worker processes all get a message sent to their room through either of them."""
    env = {
        "DATABASE_URL": await databases.migrated(),
        "REDIS_URL": shared_redis,
        # Rate-limit counters of this run only: a fixed prefix kept a re-run within minutes at 429.
        "REDIS_PREFIX": f"test-{uuid.uuid4().hex}",
    }  # keys made once, in DATA_DIR
    with serving(tmp_path, "--workers", "2", **env) as server:
        pids = workers(server.process.pid)
        try:
            assert len(pids) == 2, server.output()
            await one_room_over_the_workers(server.base_url)
            assert server.stop() == 0, server.output()
        finally:
            for pid in pids:  # a parent killed on a failure leaves its workers behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def one_room_over_the_workers(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        alice = await signup_and_login(http, f"alice-{uuid.uuid4().hex[:12]}@example.com")
        body = {"name": "two workers", "replica_ids": [ADA_LOVELACE_UUID], "member_ids": []}
        created = await http.post("/api/rooms", json=body, headers=bearer(alice))
        assert created.status_code == 201, created.text
        room = created.json()["id"]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(base_url, alice["access_token"])) for _ in range(8)]
        for client in clients:
            await client.send({"type": "room.join", "id": "j", "room_id": room})
            await client.recv_until("room.presence")
        await clients[0].send({"type": "room.send", "id": "m1", "room_id": room, "content": "to everyone"})
        for client in clients:
            message, _ = await client.recv_until("message")
            assert message["message"]["content"] == "to everyone"
