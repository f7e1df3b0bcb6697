"""Every prototype action is recorded in prototype_interactions, which reaches the owner's sockets and no one else's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..utils import connect
from .support import interaction_change, ok

Setup = Callable[[httpx.AsyncClient, dict], Awaitable[dict[str, Any]]]


async def nothing(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    return {}


async def a_call(http: httpx.AsyncClient, login: dict) -> dict[str, Any]:
    return {"call_id": (await ok(http, login, "pure-voice", "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]}


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


CASES: list[tuple[str, str, Setup, dict[str, Any]]] = [
    ("task-memory", "chat", nothing, {"content": "add task buy milk"}),
    ("pure-voice", "start_call", nothing, {"replica_id": ADA_LOVELACE_UUID}),
    ("pure-voice", "say", a_call, {"text": "hello"}),
    ("pure-voice", "stop_call", a_call, {}),
    ("mcp", "run_workflow", nothing, {"tool": "calculator", "input": {"expression": "1 + 1"}}),
    ("token-gated-memories", "buy", nothing, {"amount": 100}),
    ("token-gated-memories", "stake", tokens, {"amount": 60}),
    ("token-gated-memories", "unstake", staked, {"amount": 40}),
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
