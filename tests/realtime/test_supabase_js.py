"""supabase-js (Node) Realtime against a real hub: postgres_changes from every way of writing a task, row-level
security between two users and the anon key, broadcast with ack and self, presence, and a token refresh."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..auth.gotrue_support import ANON_KEY, PASSWORD, gotrue_settings
from ..auth.test_supabase_js import node_project  # noqa: F401  (the fixture that installs the npm project)
from ..prototypes.test_mcp_server import call, mcp_session
from ..utils import connect, run_server, signup_and_login

WAIT = 10.0
"""Seconds an expected line may take (a bound on a hung client, not a speed requirement)."""


class Driver:
    """The node script: commands on stdin, one JSON object per line on stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()

    async def until(self, match: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> dict[str, Any]:
        """Read lines until one matches (a line read before still counts); fail with what came when none does."""
        for line in self.lines:
            if match(line):
                self.lines.remove(line)
                return line
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self.process.stdout.readline()
                    if not raw:
                        stderr = await self.process.stderr.read() if self.process.stderr else b""
                        raise AssertionError(f"node exited: {stderr.decode()[-2000:]}")
                    line = json.loads(raw)
                    if match(line):
                        return line
                    self.lines.append(line)
        except TimeoutError:
            raise AssertionError(f"no matching line within {timeout}s; got {self.lines}") from None


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


@pytest.fixture
async def driver(node_project: Path, hub: str) -> AsyncIterator[tuple[Driver, dict[str, Any], dict[str, Any]]]:  # noqa: F811
    async with httpx.AsyncClient(base_url=hub, timeout=10) as http:
        alice = await signup_and_login(http, "alice@example.com", PASSWORD)
        bob = await signup_and_login(http, "bob@example.com", PASSWORD)
    process = await asyncio.create_subprocess_exec(
        "node", "realtime.mjs", hub, ANON_KEY, "alice@example.com", "bob@example.com", PASSWORD,
        cwd=node_project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    node = Driver(process)
    try:
        await node.until(lambda line: line.get("ready") is True, timeout=30)
        yield node, alice, bob
        await node.command("exit")
        await node.until(lambda line: line.get("done") is True)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def _change(who: str, event: str, **expected: Any) -> Callable[[dict[str, Any]], bool]:
    def match(line: dict[str, Any]) -> bool:
        row = line.get("new") or {}
        return (
            line.get("who") == who
            and line.get("type") == "postgres_changes"
            and line.get("eventType") == event
            and all(row.get(k) == v for k, v in expected.items())
        )

    return match


async def test_postgres_changes_from_every_writer_reach_only_the_owner(
    driver: tuple[Driver, dict[str, Any], dict[str, Any]], hub: str
) -> None:
    """Tasks written over /api/tasks, /rest/v1, the socket's task commands and MCP reach alice's filtered subscription;
    bob and the anon client, subscribed to the whole table, never hear of them."""
    node, alice, bob = driver
    auth = {"Authorization": f"Bearer {alice['access_token']}"}
    async with httpx.AsyncClient(base_url=hub, headers=auth, timeout=10) as http:
        created = (await http.post("/api/tasks", json={"description": "from rest"})).json()
        insert = await node.until(_change("alice", "INSERT", description="from rest"))
        assert insert["new"]["user_id"] == alice["user"]["id"] and insert["errors"] is None
        await http.patch(f"/api/tasks/{created['id']}", json={"status": "completed"})
        update = await node.until(_change("alice", "UPDATE", status="completed"))
        assert update["old"] == {"id": created["id"]}
        await http.delete(f"/api/tasks/{created['id']}")
        delete = await node.until(lambda line: line.get("who") == "alice" and line.get("eventType") == "DELETE")
        assert delete["old"] == {"id": created["id"]} and delete["new"] == {}

    await node.command("insert from supabase-js")  # supabase.from('tasks').insert(…): /rest/v1
    assert (await node.until(lambda line: line.get("type") == "inserted"))["error"] is None
    from_rest = await node.until(_change("alice", "INSERT", description="from supabase-js"))
    assert from_rest["new"]["text"] == "from supabase-js" and from_rest["new"]["completed"] is False

    async with connect(hub, alice["access_token"]) as tab:
        await tab.send(
            {"type": "chat.send", "id": "t-1", "replica_id": ADA_LOVELACE_UUID, "content": "add task from socket"}
        )
        await node.until(_change("alice", "INSERT", description="from socket"))
        interaction = await node.until(
            lambda line: line.get("who") == "alice" and line.get("table") == "prototype_interactions"
        )
        assert interaction["eventType"] == "INSERT" and interaction["new"]["user_id"] == alice["user"]["id"]

    async with mcp_session(hub, alice["access_token"]) as session:
        await call(session, "add_task", description="from mcp")
    await node.until(_change("alice", "INSERT", description="from mcp"))

    await node.command("refresh")  # supabase-js sends the new token to Realtime on its channels
    await node.until(lambda line: line.get("type") == "refreshed")
    async with httpx.AsyncClient(base_url=hub, headers=auth, timeout=10) as http:
        await http.post("/api/tasks", json={"description": "after refresh"})
    await node.until(_change("alice", "INSERT", description="after refresh"))

    # Bob's own task, written last, reaches him: everything of alice's would have come before it on his socket.
    async with httpx.AsyncClient(base_url=hub, headers={"Authorization": f"Bearer {bob['access_token']}"}) as http:
        await http.post("/api/tasks", json={"description": "bob's own"})
    await node.until(_change("bob", "INSERT", description="bob's own"))
    strangers = [line for line in node.lines if line.get("who") in ("bob", "anon") and "eventType" in line]
    assert strangers == []


async def test_broadcast_and_presence_between_two_clients(
    driver: tuple[Driver, dict[str, Any], dict[str, Any]],
) -> None:
    """Alice and bob see each other's presence; alice's broadcast is acked and reaches bob and (self) herself;
    her untrack leaves only bob."""
    node, _, _ = driver
    assert (await node.until(lambda line: line.get("type") == "tracked" and line["who"] == "alice"))["result"] == "ok"
    both = ["alice", "bob"]
    await node.until(
        lambda line: line.get("who") == "alice" and line.get("type") == "presence" and line["keys"] == both
    )
    await node.until(lambda line: line.get("who") == "bob" and line.get("type") == "presence" and line["keys"] == both)

    await node.command("broadcast")
    assert (await node.until(lambda line: line.get("type") == "sent"))["result"] == "ok"
    for who in ("bob", "alice"):
        heard = await node.until(lambda line, who=who: line.get("who") == who and line.get("type") == "broadcast")  # type: ignore[misc]
        assert heard["payload"] == {"from": "alice"}

    await node.command("untrack")
    assert (await node.until(lambda line: line.get("type") == "untracked"))["result"] == "ok"
    await node.until(
        lambda line: line.get("who") == "bob" and line.get("type") == "presence" and line["keys"] == ["bob"]
    )
