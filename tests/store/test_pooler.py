"""The app through a transaction-mode pooler (a real PgBouncer), as with Supabase's port 6543."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect, run_server, signup_and_login

PGBOUNCER = shutil.which("pgbouncer", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def pooler(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Process]]:
    """A PgBouncer in transaction mode in front of the test's database; yields its URL (``pgbouncer=true``)."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (.ci/run installs it)")
    target = urlsplit(database_url)
    host = parse_qs(target.query).get("host", [target.hostname or "127.0.0.1"])[0]
    port = _free_port()
    directory = tmp_path / "pgbouncer"
    directory.mkdir()
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"[databases]\n* = host={host} port={target.port or 5432} user=postgres\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\ndefault_pool_size = 2\n"
        "ignore_startup_parameters = extra_float_digits,application_name\n"
    )
    for path in (tmp_path, directory):
        path.chmod(0o755)  # PgBouncer refuses to run as root: it reads its config as nobody
    config.chmod(0o644)
    as_user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = await asyncio.create_subprocess_exec(
        PGBOUNCER, *as_user, str(config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(10):
            while True:
                assert process.returncode is None, "pgbouncer exited at start-up"
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
        yield f"postgresql://postgres@127.0.0.1:{port}{target.path}?pgbouncer=true", process
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def test_the_app_works_through_a_transaction_pooler(
    pooler: tuple[str, Process], database_url: str, settings: Settings, replica: LocalReplica
) -> None:
    """REST, chat and the change feed work with the pool on PgBouncer and LISTEN on the session URL; the pool
    really goes through the pooler (stopping it makes /readyz answer 503)."""
    pooled_url, process = pooler
    env = Settings.from_env({"DATABASE_URL": pooled_url, "DATABASE_SESSION_URL": database_url})
    assert env.database_transaction_pooler and env.database_url is not None
    configured = replace(
        settings,
        database_url=env.database_url,
        database_session_url=env.database_session_url,
        database_transaction_pooler=True,
    )
    async with run_server(create_app(configured, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        alice = await signup_and_login(http, "pooled@example.com")
        async with connect(url, alice["access_token"]) as tab:
            for n in range(3):  # several turns: statements are re-prepared on whichever server connection
                await tab.send({"type": "chat.send", "id": f"c-{n}", "replica_id": ADA_LOVELACE_UUID, "content": "hi"})
                while True:
                    frame = await tab.recv()
                    if frame["type"] == "message" and frame["message"]["sender"] == "replica":
                        break
            created = await http.post("/api/tasks", json={"description": "via the pooler"}, headers=bearer(alice))
            assert created.status_code == 201
            change, _ = await tab.recv_until("change")  # NOTIFY reached the LISTEN on the session connection
            assert change["record"]["description"] == "via the pooler"
        # Concurrent requests share two server connections: a statement prepared on one is unknown on the other.
        pages = await asyncio.gather(
            *(
                http.get("/api/conversations", params={"replica_id": ADA_LOVELACE_UUID}, headers=bearer(alice))
                for _ in range(30)
            )
        )
        assert all(page.status_code == 200 and len(page.json()["messages"]) == 6 for page in pages)
        process.terminate()
        await process.wait()
        assert (await http.get("/readyz")).status_code == 503
