"""The server API over real HTTP and sockets: the service key guards it, and every call reaches sockets held by
another process (two apps sharing Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect, run_server, signup_and_login

KEY = "operators-key-" + "k" * 32
OPERATOR = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def two_nodes(settings: Settings, replica: LocalReplica, shared_redis: str) -> AsyncIterator[tuple[str, str]]:
    shared = replace(settings, service_key=Secret(KEY), redis_url=Secret(shared_redis))
    async with (
        run_server(create_app(shared, replica=replica)) as a,
        run_server(create_app(shared, replica=replica)) as b,
    ):
        yield a, b


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/server/publish"),
        ("POST", "/api/server/users/6f1c2a9e-0b7d-4c3e-9a51-2d8e7f4b1c60/disconnect"),
        ("GET", "/api/server/rooms/6f1c2a9e-0b7d-4c3e-9a51-2d8e7f4b1c60/presence"),
        ("GET", "/api/server/users/6f1c2a9e-0b7d-4c3e-9a51-2d8e7f4b1c60/connections"),
        ("POST", "/api/server/memories"),
    ],
)
async def test_the_server_api_refuses_a_missing_or_wrong_key_even_from_loopback(
    settings: Settings, replica: LocalReplica, method: str, path: str
) -> None:
    """Without the service key (or with a user's token, or a wrong key) every route is 401."""
    keyed = replace(settings, service_key=Secret(KEY))
    async with run_server(create_app(keyed, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        user = await signup_and_login(http, "not-an-operator@example.com")
        for headers in ({}, bearer(user), {"Authorization": "Bearer " + "k" * len(KEY)}):
            body = {"event": "x", "user_id": user["user"]["id"]} if method == "POST" else None
            response = await http.request(method, path, json=body, headers=headers)
            assert response.status_code == 401 and response.json()["code"] == "unauthorized", response.text


@pytest.mark.redis
async def test_publish_reaches_a_user_and_a_room_on_another_process(two_nodes: tuple[str, str]) -> None:
    """A notification published through node A reaches the user's socket and a room member's socket on node B."""
    node_a, node_b = two_nodes
    async with httpx.AsyncClient(base_url=node_a) as http:
        ada = await signup_and_login(http, "ada-op@example.com")
        room = (
            await http.post("/api/rooms", json={"name": "ops", "replica_ids": [ADA_LOVELACE_UUID]}, headers=bearer(ada))
        ).json()
        async with connect(node_b, ada["access_token"]) as tab:
            await tab.send({"type": "room.join", "room_id": room["id"]})
            await tab.recv_until("room.presence")
            to_user = {"event": "maintenance", "data": {"at": "22:00"}, "user_id": ada["user"]["id"]}
            assert (await http.post("/api/server/publish", json=to_user, headers=OPERATOR)).status_code == 202
            frame, _ = await tab.recv_until("notification")
            assert frame == {"type": "notification", "event": "maintenance", "data": {"at": "22:00"}}
            to_room = {"event": "quiz", "data": {"n": 1}, "room_id": room["id"]}
            assert (await http.post("/api/server/publish", json=to_room, headers=OPERATOR)).status_code == 202
            frame, _ = await tab.recv_until("notification")
            assert frame == {"type": "notification", "event": "quiz", "data": {"n": 1}, "room_id": room["id"]}
            both = {"event": "x", "user_id": ada["user"]["id"], "room_id": room["id"]}
            assert (await http.post("/api/server/publish", json=both, headers=OPERATOR)).status_code == 422


@pytest.mark.redis
async def test_presence_and_connections_cover_every_process_and_disconnect_closes_all(
    two_nodes: tuple[str, str],
) -> None:
    """Asked on node A: the room's presence and the user's two sockets (one per node); disconnect closes both 4011."""
    node_a, node_b = two_nodes
    async with httpx.AsyncClient(base_url=node_a) as http:
        ada = await signup_and_login(http, "ada-conn@example.com")
        room = (
            await http.post("/api/rooms", json={"name": "p", "replica_ids": [ADA_LOVELACE_UUID]}, headers=bearer(ada))
        ).json()
        user_id = ada["user"]["id"]
        async with connect(node_a, ada["access_token"]) as on_a, connect(node_b, ada["access_token"]) as on_b:
            await on_b.send({"type": "room.join", "room_id": room["id"]})
            await on_b.recv_until("room.presence")
            presence = (await http.get(f"/api/server/rooms/{room['id']}/presence", headers=OPERATOR)).json()
            assert presence == {"room_id": room["id"], "user_ids": [user_id]}
            listed = (await http.get(f"/api/server/users/{user_id}/connections", headers=OPERATOR)).json()
            assert len(listed["connections"]) == 2
            assert {c["rooms"] == [f"room:{room['id']}"] for c in listed["connections"]} == {True, False}
            response = await http.post(f"/api/server/users/{user_id}/disconnect", headers=OPERATOR)
            assert response.status_code == 202
            assert await on_a.close_code() == 4011 and await on_b.close_code() == 4011
        async with asyncio.timeout(5):
            while (await http.get(f"/api/server/users/{user_id}/connections", headers=OPERATOR)).json()["connections"]:
                await asyncio.sleep(0.05)  # each node unregisters the closed sockets on its own schedule


async def test_an_operator_seeds_a_replicas_memories_to_unlock(settings: Settings, replica: LocalReplica) -> None:
    """A seeded memory is locked for every user at its tier's price; seeding the same content again re-tiers and
    re-prices it (the same memory); a user who spends the price reads it; an unknown tier is 422."""
    keyed = replace(settings, service_key=Secret(KEY))
    real_replica = "0b6f2e1a-9c3d-4e5f-8a7b-6c5d4e3f2a10"  # as a real Sensay replica's id would be
    async with run_server(create_app(keyed, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        user = await signup_and_login(http, "reader@example.com")
        seed = {"replica_id": real_replica, "tier": "premium", "content": "She kept every ticket stub."}
        first = await http.post("/api/server/memories", json=seed, headers=OPERATOR)
        assert first.status_code == 200, first.text
        made = first.json()
        assert (made["tier"], made["price"], made["author_id"], made["content"]) == (
            "premium",
            10,
            None,
            "She kept every ticket stub.",
        )
        again = await http.post("/api/server/memories", json={**seed, "tier": "expert", "price": 70}, headers=OPERATOR)
        assert again.status_code == 200 and (again.json()["id"], again.json()["tier"], again.json()["price"]) == (
            made["id"],
            "expert",
            70,
        )
        listed = (await http.get("/api/prototype/token-gated-memories", headers=bearer(user))).json()["state"]
        [shown] = [m for m in listed["memories"] if m["replica_id"] == real_replica]
        assert (shown["id"], shown["unlocked"], shown["content"], shown["price"], shown["house"]) == (
            made["id"],
            False,
            None,
            70,
            True,
        )
        bad = await http.post("/api/server/memories", json={**seed, "tier": "legendary"}, headers=OPERATOR)
        assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
