"""The embedded change feed end to end: rows changed anywhere reach their owner's sockets, and only theirs."""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg
import httpx

from ..conftest import bearer
from ..utils import WsClient, connect


async def next_change(client: WsClient, timeout: float = 5.0) -> dict:
    frame, _ = await client.recv_until("change", timeout=timeout)
    return frame


async def test_plain_sql_insert_reaches_both_tabs_of_the_owner_only(
    server: str, database_url: str, alice: dict, bob: dict
) -> None:
    """A task inserted by another connection reaches the owner's tabs within milliseconds (p95 printed)."""
    conn = await asyncpg.connect(database_url)
    latencies = []
    try:
        async with (
            connect(server, alice["access_token"]) as tab1,
            connect(server, alice["access_token"]) as tab2,
            connect(server, bob["access_token"]) as other,
        ):
            for n in range(40):
                started = time.perf_counter()
                task_id = await conn.fetchval(
                    "INSERT INTO tasks (user_id, description) VALUES ($1, $2) RETURNING id",
                    alice["user"]["id"],
                    f"from sql {n}",
                )
                first = await next_change(tab1)
                latencies.append(time.perf_counter() - started)
                second = await next_change(tab2)
                assert first == second
                assert first["table"] == "tasks" and first["op"] == "INSERT"
                assert first["record"]["id"] == str(task_id) and first["record"]["description"] == f"from sql {n}"
            assert await other.nothing_within(0.3) == []
    finally:
        await conn.close()
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"\nchange feed: insert -> socket p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")


async def test_rest_updates_and_deletes_are_fed_too(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    async with connect(server, alice["access_token"]) as tab:
        task = (await http.post("/api/tasks", json={"description": "feed me"}, headers=bearer(alice))).json()
        assert (await next_change(tab))["op"] == "INSERT"
        await http.patch(f"/api/tasks/{task['id']}", json={"status": "completed"}, headers=bearer(alice))
        updated = await next_change(tab)
        assert updated["op"] == "UPDATE" and updated["record"]["status"] == "completed"
        await http.delete(f"/api/tasks/{task['id']}", headers=bearer(alice))
        deleted = await next_change(tab)
        assert deleted["op"] == "DELETE" and "record" not in deleted
        assert deleted["old_record"] == {"id": task["id"], "user_id": alice["user"]["id"]}


async def test_prototype_interactions_are_fed(server: str, database_url: str, alice: dict) -> None:
    async with connect(server, alice["access_token"]) as tab:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "INSERT INTO prototype_interactions (user_id, prototype, interaction_type, details)"
                " VALUES ($1, 'mcp', 'tool_call', '{\"tool\": \"search\"}'::jsonb)",
                alice["user"]["id"],
            )
        finally:
            await conn.close()
        change = await next_change(tab)
        assert change["table"] == "prototype_interactions"
        assert change["record"]["details"] == {"tool": "search"}


async def test_killed_listener_recovers_and_clients_are_told_to_resync(
    server: str, database_url: str, alice: dict
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with connect(server, alice["access_token"]) as tab:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'sensay-hub change feed'"
            )
            assert killed == 1
            resync, _ = await tab.recv_until("resync", timeout=10)
            assert set(resync["tables"]) == {"tasks", "prototype_interactions"}
            # And the feed works again afterwards.
            await asyncio.sleep(0.1)
            await conn.execute(
                "INSERT INTO tasks (user_id, description) VALUES ($1, 'after the kill')", alice["user"]["id"]
            )
            change = await next_change(tab)
            assert change["record"]["description"] == "after the kill"
    finally:
        await conn.close()
