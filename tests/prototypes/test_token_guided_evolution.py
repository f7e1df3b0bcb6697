"""Token-Guided Evolution: spend mock $SNSY to raise a replica along one path, each level dearer than the last."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..conftest import bearer
from .support import act, ok, problem, state

ID = "token-guided-evolution"


async def test_evolving_spends_rising_costs_up_to_the_top_level(http: httpx.AsyncClient, alice: dict) -> None:
    """Levels cost 50, 100, 200, 400, 800 from the shared ledger; the state shows level, spent and next cost."""
    problem(
        await act(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="scholar"), 409, "insufficient_funds"
    )
    await ok(http, alice, "token-gated-memories", "buy", amount=1000)
    await ok(http, alice, "token-gated-memories", "buy", amount=1000)

    first = await ok(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="scholar")
    assert first["cost"] == 50 and first["balance"] == 1950
    assert (first["evolution"]["level"], first["evolution"]["next_cost"]) == (1, 100)
    for level, cost in [(2, 100), (3, 200), (4, 400), (5, 800)]:
        result = await ok(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="scholar")
        assert (result["evolution"]["level"], result["cost"]) == (level, cost)
    assert result["evolution"]["next_cost"] is None and result["balance"] == 2000 - 1550
    problem(await act(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="scholar"), 409, "max_level")

    view = await state(http, alice, ID)
    assert view["balance"] == 450 and set(view["paths"]) == {"scholar", "creative", "strategist"}
    assert [level["cost"] for level in view["levels"]] == [50, 100, 200, 400, 800]
    assert [(r["replica_id"], r["path"], r["level"], r["spent"]) for r in view["replicas"]] == [
        (ADA_LOVELACE_UUID, "scholar", 5, 1550)
    ]
    tokens = await state(http, alice, "token-gated-memories")
    assert tokens["balance"] == 450


async def test_a_replica_keeps_its_path(http: httpx.AsyncClient, alice: dict) -> None:
    """Another path on an evolved replica is 409; other replicas choose their own; bad input is 422 or 404."""
    await ok(http, alice, "token-gated-memories", "buy", amount=500)
    await ok(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="creative")
    problem(await act(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="scholar"), 409, "path_locked")
    other = await ok(http, alice, ID, "evolve", replica_id=SOCRATES_UUID, path="strategist")
    assert other["evolution"]["path"] == "strategist" and other["balance"] == 400
    problem(await act(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="wizard"), 422, "validation_error")
    missing = "00000000-0000-4000-8000-000000000000"
    problem(await act(http, alice, ID, "evolve", replica_id=missing, path="scholar"), 404, "replica_not_found")
    assert (await state(http, alice, ID))["balance"] == 400


async def test_concurrent_evolutions_buy_each_level_once(
    http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool
) -> None:
    """Ten concurrent evolves with 150 tokens buy levels 1 and 2 exactly once; the rest are refused."""
    await ok(http, alice, "token-gated-memories", "buy", amount=150)
    responses = await asyncio.gather(
        *(act(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="scholar") for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 2 + [409] * 8
    [evolved] = (await state(http, alice, ID))["replicas"]
    assert (evolved["level"], evolved["spent"]) == (2, 150)
    spends = await pool.fetch(
        "SELECT amount FROM ledger_entries WHERE user_id = $1 AND kind = 'spend' ORDER BY n",  # n: journal order
        alice["user"]["id"],
    )
    assert [row["amount"] for row in spends] == [50, 100]


async def test_each_level_reached_has_erc721_metadata_for_its_owner(
    http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """After two evolutions, levels 1 and 2 serve ERC-721 JSON (name, description, image, attributes); level 3,
    and Bob asking for Alice's, are 404."""
    await ok(http, alice, "token-gated-memories", "buy", amount=200)
    first = await ok(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="creative")
    await ok(http, alice, ID, "evolve", replica_id=ADA_LOVELACE_UUID, path="creative")
    uri = first["token_uri"]
    metadata = (await http.get(uri, headers=bearer(alice))).json()
    assert metadata["name"] == "Ada Lovelace: Dabbler" and metadata["image"].startswith("data:image/svg+xml;base64,")
    assert {"trait_type": "Path", "value": "creative"} in metadata["attributes"]
    level2 = (await http.get(uri[:-1] + "2", headers=bearer(alice))).json()
    assert level2["name"] == "Ada Lovelace: Maker"
    assert (await http.get(uri[:-1] + "3", headers=bearer(alice))).status_code == 404
    assert (await http.get(uri[:-1] + "\u00b3", headers=bearer(alice))).status_code == 404, "a digit int() refuses"
    assert (await http.get(uri, headers=bearer(bob))).status_code == 404
