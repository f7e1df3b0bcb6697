"""Bonding Replicas: bond and unbond replica sets; bonded replicas share a memory pool the chat can draw on."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import httpx

from server.context.briefing import SHARED_LIMIT
from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID
from server.store import bonds

from ..conftest import bearer
from .support import act, ok, problem, state

ID = "bonding-replicas"


async def test_bond_remember_unbond(http: httpx.AsyncClient, alice: dict) -> None:
    """A bond is created active, gathers shared memories, and ends on unbond; the state shows all of it."""
    bond = (await ok(http, alice, ID, "bond", replica_ids=[SOCRATES_UUID, ADA_LOVELACE_UUID]))["bond"]
    assert bond["active"] is True and sorted(bond["replica_ids"]) == sorted([SOCRATES_UUID, ADA_LOVELACE_UUID])
    memory = await ok(http, alice, ID, "remember", bond_id=bond["id"], content="We met in Athens.")
    assert memory["memory"]["content"] == "We met in Athens." and memory["replica_ids"] == bond["replica_ids"]

    [shown] = (await state(http, alice, ID))["bonds"]
    assert shown["id"] == bond["id"] and [m["content"] for m in shown["memories"]] == ["We met in Athens."]

    ended = (await ok(http, alice, ID, "unbond", bond_id=bond["id"]))["bond"]
    assert ended["active"] is False and ended["ended_at"] is not None
    [shown] = (await state(http, alice, ID))["bonds"]
    assert shown["active"] is False and len(shown["memories"]) == 1


async def test_invalid_bonds_are_refused(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """2..5 distinct known replicas; one active bond per set; ended or foreign bonds cannot be used."""
    for ids in ([ADA_LOVELACE_UUID], [ADA_LOVELACE_UUID] * 2, [f"r{n}" for n in range(6)]):
        problem(await act(http, alice, ID, "bond", replica_ids=ids), 422, "validation_error")
    missing = "00000000-0000-4000-8000-000000000000"
    problem(await act(http, alice, ID, "bond", replica_ids=[ADA_LOVELACE_UUID, missing]), 404, "replica_not_found")

    bond_id = (await ok(http, alice, ID, "bond", replica_ids=[ADA_LOVELACE_UUID, SOCRATES_UUID]))["bond"]["id"]
    problem(await act(http, alice, ID, "bond", replica_ids=[SOCRATES_UUID, ADA_LOVELACE_UUID]), 409, "already_bonded")
    problem(await act(http, bob, ID, "remember", bond_id=bond_id, content="mine now"), 404, "bond_not_found")
    problem(await act(http, bob, ID, "unbond", bond_id=bond_id), 404, "bond_not_found")
    await ok(http, alice, ID, "unbond", bond_id=bond_id)
    problem(await act(http, alice, ID, "unbond", bond_id=bond_id), 409, "bond_ended")
    problem(await act(http, alice, ID, "remember", bond_id=bond_id, content="too late"), 409, "bond_ended")
    await ok(http, alice, ID, "bond", replica_ids=[ADA_LOVELACE_UUID, SOCRATES_UUID])  # the set may bond again


async def test_a_replicas_context_holds_its_active_bonds_memories(
    http: httpx.AsyncClient, alice: dict, bob: dict, pool: asyncpg.Pool
) -> None:
    """A replica's context lists the memories of its active bonds, oldest first; none for others or after unbond."""
    user_id = UUID(alice["user"]["id"])

    async def shared(user: UUID, replica_id: str) -> list[str]:
        return await bonds.shared_memories(pool, user, replica_id, SHARED_LIMIT)

    assert await shared(user_id, ADA_LOVELACE_UUID) == []
    first = (await ok(http, alice, ID, "bond", replica_ids=[ADA_LOVELACE_UUID, SOCRATES_UUID]))["bond"]["id"]
    second = (await ok(http, alice, ID, "bond", replica_ids=[ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID]))["bond"]["id"]
    await ok(http, alice, ID, "remember", bond_id=first, content="Alice likes engines.")
    await ok(http, alice, ID, "remember", bond_id=second, content="Alice is learning Greek.")

    assert await shared(user_id, ADA_LOVELACE_UUID) == ["Alice likes engines.", "Alice is learning Greek."]
    assert await shared(user_id, SOCRATES_UUID) == ["Alice likes engines."]
    assert await shared(UUID(bob["user"]["id"]), ADA_LOVELACE_UUID) == []

    await ok(http, alice, ID, "unbond", bond_id=first)
    assert await shared(user_id, SOCRATES_UUID) == []
    assert await shared(user_id, ADA_LOVELACE_UUID) == ["Alice is learning Greek."]


async def test_bonded_replicas_answer_with_the_shared_memories(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """A memory told to the bond reaches both bonded replicas' answers in chat, and nobody else's chat."""
    bond = (await ok(http, alice, ID, "bond", replica_ids=[SOCRATES_UUID, ADA_LOVELACE_UUID]))["bond"]
    await ok(http, alice, ID, "remember", bond_id=bond["id"], content="The secret word is marmalade.")
    for replica_id in (SOCRATES_UUID, ADA_LOVELACE_UUID):
        body = {"replica_id": replica_id, "content": "what do you remember?"}
        answer = (await http.post("/api/conversations", json=body, headers=bearer(alice))).json()
        assert "marmalade" in answer["reply"]["content"]
    for login, replica_id in ((alice, SENSAY_GUIDE_UUID), (bob, SOCRATES_UUID)):
        body = {"replica_id": replica_id, "content": "what do you remember?"}
        answer = (await http.post("/api/conversations", json=body, headers=bearer(login))).json()
        assert "marmalade" not in answer["reply"]["content"]
