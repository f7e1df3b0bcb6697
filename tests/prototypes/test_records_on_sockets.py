"""Every prototype action is recorded in prototype_interactions, which reaches the owner's sockets and no one else's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..utils import connect, signup_and_login
from .support import interaction_change, ok
from .voice_audio import spoken_wav

Setup = Callable[[httpx.AsyncClient, dict], Awaitable[dict[str, Any]]]
NUMBER = "+14155550142"


async def nothing(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    return {}


async def a_call(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    return {"call_id": (await ok(http, login, "pure-voice", "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]}


async def an_inbound_call(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    """A call rung in through the mock provider for a replica, waiting for the PIN 1234."""
    await ok(http, login, "pure-voice", "set_pin", pin="1234")
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    calls = "/api/mock/telephony/calls"
    sid = (
        await http.post(calls, json={"to": "+14155550100", "replica_id": ADA_LOVELACE_UUID}, headers=headers)
    ).json()["call"]["sid"]
    for status in ("ringing", "answered"):
        answered = await http.post(f"{calls}/{sid}/events", json={"status": status}, headers=headers)
    return {"call_id": answered.json()["call"]["voice_call_id"]}


async def a_texted_code(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    """A number registered for ``login``, and the code the mock provider texted to it."""
    await ok(http, login, "pure-voice", "register_number", number=NUMBER)
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    texted = (await http.get("/api/mock/telephony/messages", headers=headers)).json()["messages"]
    return {"code": [m["body"] for m in texted if m["to"] == NUMBER][-1].rsplit(" ", 1)[1]}


async def a_verified_number(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    await ok(http, login, "pure-voice", "verify_number", **await a_texted_code(http, login))
    return {}


async def tokens(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    await ok(http, login, "token-gated-memories", "buy", amount=100)
    return {}


async def staked(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    await tokens(http, login)
    await ok(http, login, "token-gated-memories", "stake", amount=100)
    return {}


async def a_bond(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    bond = await ok(http, login, "bonding-replicas", "bond", replica_ids=[ADA_LOVELACE_UUID, SOCRATES_UUID])
    return {"bond_id": bond["bond"]["id"]}


async def a_foreign_memory(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    """A premium memory (price 10) written by another user, and 100 tokens for ``login``."""
    author = await signup_and_login(http, f"author-{login['user']['id'][:8]}@example.com")
    made = await ok(
        http, author, "token-gated-memories", "add_memory", replica_id=ADA_LOVELACE_UUID, tier="premium", content="m"
    )
    await tokens(http, login)
    return {"memory_id": made["memory"]["id"]}


async def a_staked_unlock(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    memory = await a_foreign_memory(http, login)
    unlocked = await ok(http, login, "token-gated-memories", "unlock", method="stake", **memory)
    return {"unlock_id": unlocked["unlock"]["id"]}


async def a_spent_unlock(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    memory = await a_foreign_memory(http, login)
    unlocked = await ok(http, login, "token-gated-memories", "unlock", method="spend", **memory)
    return {"unlock_id": unlocked["unlock"]["id"]}


async def a_listing(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    listed = await ok(http, login, "token-gated-memories", "sell", price=20, **await a_spent_unlock(http, login))
    return {"listing_id": listed["listing"]["id"]}


async def a_foreign_listing(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    seller = await signup_and_login(http, f"seller-{login['user']['id'][:8]}@example.com")
    await tokens(http, login)
    return await a_listing(http, seller)


CASES: list[tuple[str, str, Setup, dict[str, Any]]] = [
    ("task-memory", "chat", nothing, {"content": "add task buy milk"}),
    ("pure-voice", "start_call", nothing, {"replica_id": ADA_LOVELACE_UUID}),
    ("pure-voice", "say", a_call, {"text": "hello"}),
    ("pure-voice", "say_audio", a_call, {"audio": spoken_wav()}),
    ("pure-voice", "stop_call", a_call, {}),
    ("pure-voice", "set_pin", nothing, {"pin": "1234"}),
    ("pure-voice", "enter_pin", an_inbound_call, {"pin": "1234"}),
    ("pure-voice", "register_number", nothing, {"number": NUMBER}),
    ("pure-voice", "verify_number", a_texted_code, {}),
    ("pure-voice", "remove_number", a_verified_number, {}),
    ("pure-voice", "schedule_call", nothing, {"replica_id": ADA_LOVELACE_UUID, "at": "tomorrow at 5pm"}),
    ("mcp", "run_workflow", nothing, {"tool": "calculator", "input": {"expression": "1 + 1"}}),
    ("token-gated-memories", "buy", nothing, {"amount": 100}),
    ("token-gated-memories", "stake", tokens, {"amount": 60}),
    ("token-gated-memories", "unstake", staked, {"amount": 40}),
    (
        "token-gated-memories",
        "add_memory",
        nothing,
        {"replica_id": ADA_LOVELACE_UUID, "tier": "expert", "content": "x"},
    ),
    ("token-gated-memories", "unlock", a_foreign_memory, {"method": "spend"}),
    ("token-gated-memories", "renew", a_staked_unlock, {}),
    ("token-gated-memories", "release", a_staked_unlock, {}),
    ("token-gated-memories", "sell", a_spent_unlock, {"price": 25}),
    ("token-gated-memories", "withdraw", a_listing, {}),
    ("token-gated-memories", "buy_listing", a_foreign_listing, {}),
    ("token-guided-evolution", "evolve", tokens, {"replica_id": ADA_LOVELACE_UUID, "path": "scholar"}),
    ("bonding-replicas", "bond", nothing, {"replica_ids": [ADA_LOVELACE_UUID, SOCRATES_UUID]}),
    ("bonding-replicas", "unbond", a_bond, {}),
    ("bonding-replicas", "remember", a_bond, {"content": "a shared memory"}),
]


def test_every_action_is_covered() -> None:
    """The cases below name every action of every prototype."""
    from server.prototypes.registry import PROTOTYPES

    assert {(c[0], c[1]) for c in CASES} == {(p.id, a) for p in PROTOTYPES.values() for a in p.actions}


@pytest.mark.parametrize(("prototype", "action", "setup", "params"), CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
async def test_action_record_reaches_the_owner_only(
    server: str,
    http: httpx.AsyncClient,
    alice: dict,
    bob: dict,
    prototype: str,
    action: str,
    setup: Setup,
    params: dict[str, Any],
) -> None:
    """The action's interaction row arrives as a change frame on both of Alice's tabs; Bob's socket stays silent."""
    params = {**params, **await setup(http, alice)}
    token = alice["access_token"]
    async with (
        connect(server, token) as tab1,
        connect(server, token) as tab2,
        connect(server, bob["access_token"]) as b,
    ):
        response = await http.post(
            f"/api/prototype/{prototype}/actions",
            json={"action": action, "params": params},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        for tab in (tab1, tab2):
            record = (await interaction_change(tab, prototype, action))["record"]
            assert record["id"] == response.json()["interaction_id"] and record["user_id"] == alice["user"]["id"]
            assert isinstance(record["details"], dict) and record["details"]
        assert await b.nothing_within(0.3) == []
