"""Bonding Replicas' duration control: a bond made for a while stops counting at its expiry and is ended by the
sweep, which tells its user."""

from __future__ import annotations

import asyncpg
import httpx

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..conftest import bearer
from ..utils import connect
from .support import act, collect_events, ok, problem, state

ID = "bonding-replicas"
PAIR = [ADA_LOVELACE_UUID, SOCRATES_UUID]


async def chat(http: httpx.AsyncClient, login: dict, content: str) -> str:
    body = {"replica_id": SOCRATES_UUID, "content": content}
    response = await http.post("/api/conversations", json=body, headers=bearer(login))
    assert response.status_code == 201, response.text
    return str(response.json()["reply"]["content"])


async def test_a_bond_made_for_a_while_expires(
    server: str, http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool
) -> None:
    """A one-hour bond shares its memory; once its hour is over (moved into the past here) the memory no longer
    reaches Socrates, `remember` is 409 bond_ended, the sweep ends it (`expired`, one `bond_expired` event, one
    `expire` record) and the pair may bond again."""
    bond = (await ok(http, alice, ID, "bond", replica_ids=PAIR, duration_seconds=3600))["bond"]
    assert bond["active"] and bond["expires_at"] is not None and bond["end_reason"] is None
    await ok(http, alice, ID, "remember", bond_id=bond["id"], content="The secret word is marmalade.")
    assert "marmalade" in await chat(http, alice, "what do you remember?")

    async with connect(server, alice["access_token"]) as tab:
        await pool.execute(
            "UPDATE replica_bonds SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'"
            " WHERE id = $1",
            bond["id"],
        )
        assert "marmalade" not in await chat(http, alice, "and now?")
        problem(await act(http, alice, ID, "remember", bond_id=bond["id"], content="late"), 409, "bond_ended")
        [expired] = await collect_events(tab, ID, "bond_expired", lambda e: True)
    assert expired == {"bond_id": bond["id"], "replica_ids": sorted(PAIR)}

    [shown] = (await state(http, alice, ID))["bonds"]
    assert (shown["active"], shown["end_reason"]) == (False, "expired")
    records = (await http.get(f"/api/prototype/{ID}", headers=bearer(alice))).json()["interactions"]
    assert [r["interaction_type"] for r in records].count("expire") == 1
    await ok(http, alice, ID, "bond", replica_ids=PAIR)


async def test_an_expired_bond_not_yet_swept_does_not_block_a_new_one(
    http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool
) -> None:
    """Bonding the same pair again right after the expiry (before any sweep) ends the old bond and makes a new one;
    an unbonded bond says `unbonded`; a duration of 0 or over a year is 422."""
    old = (await ok(http, alice, ID, "bond", replica_ids=PAIR, duration_seconds=60))["bond"]
    await pool.execute(
        "UPDATE replica_bonds SET created_at = now() - interval '2 minutes', expires_at = now() - interval '1 minute'"
        " WHERE id = $1",
        old["id"],
    )
    new = (await ok(http, alice, ID, "bond", replica_ids=PAIR))["bond"]
    ended = await ok(http, alice, ID, "unbond", bond_id=new["id"])
    assert ended["bond"]["end_reason"] == "unbonded"
    reasons = {b["id"]: b["end_reason"] for b in (await state(http, alice, ID))["bonds"]}
    assert reasons == {old["id"]: "expired", new["id"]: "unbonded"}
    for bad in (0, 365 * 24 * 3600 + 1):
        problem(await act(http, alice, ID, "bond", replica_ids=PAIR, duration_seconds=bad), 422, "validation_error")
