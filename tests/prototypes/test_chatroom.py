"""Chatroom prototype: its state lists the caller's rooms; it has no actions of its own."""

from __future__ import annotations

import httpx

from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import bearer
from .support import act, problem, state

ID = "chatroom"


async def test_state_lists_rooms_the_caller_created_or_joined(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """Alice sees the room she created, the one Bob added her to and open rooms, not Bob's private room."""

    async def create(owner: dict, name: str, **fields: object) -> str:
        body = {"name": name, "replica_ids": [ADA_LOVELACE_UUID], **fields}
        response = await http.post("/api/rooms", json=body, headers=bearer(owner))
        assert response.status_code == 201
        return response.json()["id"]

    own = await create(alice, "own")
    joined = await create(bob, "joined", member_ids=[alice["user"]["id"]])
    await create(bob, "private")
    lobby = await create(bob, "lobby", is_open=True)

    rooms = (await state(http, alice, ID))["rooms"]
    assert [(r["id"], r["name"]) for r in rooms] == [(lobby, "lobby"), (joined, "joined"), (own, "own")]
    assert [r["name"] for r in (await state(http, bob, ID))["rooms"]] == ["lobby", "private", "joined"]
    problem(await act(http, alice, ID, "start"), 422, "unknown_action")
