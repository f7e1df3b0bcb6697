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
