"""What a replica is told beyond the message: bonds' shared memories, unlocked memories and its evolution reach it
in chat, rooms and task-memory chat, once per change. The local replica answers with what it was told (it says
what it remembers, never the briefing itself); ``said_to`` shows the prompts as Sensay received them."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import httpx

from server.context.briefing import OPENING, WITHDRAWN
from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, LocalReplica
from server.store import memories

from ..conftest import bearer
from ..prototypes.support import ok
from ..rooms.test_rooms import join_all, make_room, say, until_turns_end
from ..utils import connect

BONDS, TOKENS, EVOLUTION = "bonding-replicas", "token-gated-memories", "token-guided-evolution"


async def chat(http: httpx.AsyncClient, login: dict, replica_id: str, content: str) -> str:
    """Send a chat message over REST; return the replica's reply."""
    body = {"replica_id": replica_id, "content": content}
    response = await http.post("/api/conversations", json=body, headers=bearer(login))
    assert response.status_code == 201, response.text
    return str(response.json()["reply"]["content"])


async def bond_with_memory(http: httpx.AsyncClient, login: dict, replica_ids: list[str], memory: str) -> str:
    bond = (await ok(http, login, BONDS, "bond", replica_ids=replica_ids))["bond"]
    await ok(http, login, BONDS, "remember", bond_id=bond["id"], content=memory)
    return str(bond["id"])


async def test_the_context_travels_once_per_change_and_its_withdrawal_once(
    http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """Shared memories go with the first message, not the next; a change sends the whole context again; when
    the bond ends the replica is told once that what it knew no longer applies. Our stored messages never hold it."""
    bond_id = await bond_with_memory(http, alice, [ADA_LOVELACE_UUID, SOCRATES_UUID], "The secret word is marmalade.")
    first = await chat(http, alice, ADA_LOVELACE_UUID, "what do you remember?")
    assert "I remember: The secret word is marmalade." in first, "the replica answers with it"
    assert OPENING not in first and "Shared memories" not in first, "it never quotes the briefing"
    await chat(http, alice, ADA_LOVELACE_UUID, "and now?")
    await ok(http, alice, BONDS, "remember", bond_id=bond_id, content="Tea at five.")
    await chat(http, alice, ADA_LOVELACE_UUID, "anything new?")
    await ok(http, alice, BONDS, "unbond", bond_id=bond_id)
    await chat(http, alice, ADA_LOVELACE_UUID, "still there?")
    await chat(http, alice, ADA_LOVELACE_UUID, "and now?")
    await chat(http, alice, SENSAY_GUIDE_UUID, "hi")

    told = f"{OPENING}\nShared memories from your bonded replicas:\n- The secret word is marmalade."
    assert replica.said_to(alice["user"]["id"], ADA_LOVELACE_UUID) == [
        f"{told}]\n\nwhat do you remember?",
        "and now?",
        f"{told}\n- Tea at five.]\n\nanything new?",
        f"{WITHDRAWN}\n\nstill there?",
        "and now?",
    ], "Sensay's history holds each version of the context once"
    assert replica.said_to(alice["user"]["id"], SENSAY_GUIDE_UUID) == ["hi"], "a replica that never knew is not told"
    history = (await http.get("/api/conversations", headers=bearer(alice))).json()["messages"]
    assert not any(OPENING in m["content"] for m in history if m["sender"] == "user"), "our own history never holds it"


async def test_unlocked_memories_reach_their_replica_and_leave_with_the_stake(
    http: httpx.AsyncClient, alice: dict, bob: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """A premium memory of Ada reaches Ada once Alice's stake unlocks its tier, never Socrates, and is withdrawn
    when the stake goes; Bob, who wrote it, is told it from the start."""
    await memories.create_memory(
        pool, UUID(bob["user"]["id"]), ADA_LOVELACE_UUID, "premium", "Ada hid a notebook.", None
    )
    assert "notebook" not in await chat(http, alice, ADA_LOVELACE_UUID, "hello")
    assert "I remember: Ada hid a notebook." in await chat(http, bob, ADA_LOVELACE_UUID, "hello")

    await ok(http, alice, TOKENS, "buy", amount=100)
    await ok(http, alice, TOKENS, "stake", amount=100)
    told = await chat(http, alice, ADA_LOVELACE_UUID, "what do you keep?")  # with the premium memories Ada ships
    assert "I remember: " in told and "Ada hid a notebook." in told
    assert "notebook" not in await chat(http, alice, SOCRATES_UUID, "what do you keep?")

    await ok(http, alice, TOKENS, "unstake", amount=100)
    after = await chat(http, alice, ADA_LOVELACE_UUID, "and now?")
    assert "I have set aside the memories" in after and "notebook" not in after
    assert replica.said_to(alice["user"]["id"], ADA_LOVELACE_UUID)[-1] == f"{WITHDRAWN}\n\nand now?"


async def test_evolution_path_and_level_reach_the_replica(http: httpx.AsyncClient, alice: dict) -> None:
    """Evolving a replica tells it its path and level; each new level is told again."""
    await ok(http, alice, TOKENS, "buy", amount=200)
    await ok(http, alice, EVOLUTION, "evolve", replica_id=SOCRATES_UUID, path="scholar")
    told = await chat(http, alice, SOCRATES_UUID, "explain virtue")
    assert "(Evolved along the scholar path: level 1 of 5.)" in told and "Let it shape" not in told
    await ok(http, alice, EVOLUTION, "evolve", replica_id=SOCRATES_UUID, path="scholar")
    assert "scholar path: level 2 of 5" in await chat(http, alice, SOCRATES_UUID, "again")
    assert "evolved" not in await chat(http, alice, ADA_LOVELACE_UUID, "hello"), "only the evolved replica"


async def test_task_memory_chat_brings_the_context_too(http: httpx.AsyncClient, alice: dict) -> None:
    """Chat through the Task Memory prototype tells the replica the same context as ordinary chat."""
    await bond_with_memory(http, alice, [ADA_LOVELACE_UUID, SOCRATES_UUID], "Alice keeps bees.")
    result = await ok(http, alice, "task-memory", "chat", content="what do you know of me?", replica_id=SOCRATES_UUID)
    assert "I remember: Alice keeps bees." in result["reply"]


async def test_a_task_command_asked_out_of_history_carries_the_whole_context(
    http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """A task command's outcome is asked out of Sensay's history, which it cannot see: it carries the whole
    context each time, yet neither it nor the context enters that history, and nothing counts as seen."""
    await bond_with_memory(http, alice, [ADA_LOVELACE_UUID, SOCRATES_UUID], "Alice keeps bees.")
    await chat(http, alice, SOCRATES_UUID, "hello")
    outcome = await chat(http, alice, SOCRATES_UUID, "add task buy honey")
    assert "I remember: Alice keeps bees." in outcome and 'Added task 1: "buy honey".' in outcome
    assert "The user wrote" not in outcome and "Confirm this outcome" not in outcome, "the wrapper stays unsaid"
    await chat(http, alice, SOCRATES_UUID, "and now?")  # the open tasks changed: the new context goes with it
    listed = await chat(http, alice, SOCRATES_UUID, "show my tasks")
    assert 'The task list has 1 task(s): 1. "buy honey" (pending).' in listed
    await chat(http, alice, SOCRATES_UUID, "still?")
    said = replica.said_to(alice["user"]["id"], SOCRATES_UUID)
    assert [m.rsplit("\n\n", 1)[-1] for m in said] == ["hello", "and now?", "still?"]
    assert said[0].startswith(OPENING) and 'task 1: "buy honey"' not in said[0]
    assert said[1].startswith(OPENING) and '- task 1: "buy honey"' in said[1]
    assert not said[2].startswith(OPENING), "the outcome turns between marked nothing seen, and nothing changed"


async def test_a_room_tells_its_replicas_the_creators_context_and_nobody_elses(
    http: httpx.AsyncClient, alice: dict, bob: dict, server: str, replica: LocalReplica
) -> None:
    """In Alice's room her bonds' memories reach the replicas, once each; Bob's, a member's, never do."""
    await bond_with_memory(http, alice, [ADA_LOVELACE_UUID, SOCRATES_UUID], "Alice's cat is called Euclid.")
    await bond_with_memory(http, bob, [ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID], "Bob's password hint is tulip.")
    room = await make_room(http, alice, [bob], replica_ids=[ADA_LOVELACE_UUID, SOCRATES_UUID], mode="round_robin")
    async with connect(server, bob["access_token"]) as tab:
        await join_all(room, tab)
        await say(tab, room, "What do you know?", "m1")
        await until_turns_end(tab)
        await say(tab, room, "And now?", "m2")
        await until_turns_end(tab)
    sensay_user = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(bob))).json()["sensay_user_id"]
    for replica_id in (ADA_LOVELACE_UUID, SOCRATES_UUID):
        first, second = replica.said_to(sensay_user, replica_id)
        assert first.startswith(OPENING) and "- Alice's cat is called Euclid.]" in first
        assert not second.startswith(OPENING), "not again while nothing changed"
        assert "tulip" not in first + second
