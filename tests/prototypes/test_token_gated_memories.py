"""Token-Gated Memories: buy, stake and unstake mock $SNSY; tiers unlock by stake; balances never go negative."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from .support import act, ok, problem, state

ID = "token-gated-memories"


def unlocked(view: dict) -> list[str]:
    return [t["tier"] for t in view["tiers"] if t["unlocked"]]


async def test_buy_stake_unstake_unlock_tiers(http: httpx.AsyncClient, alice: dict) -> None:
    """Staking past a threshold unlocks its tier and shows its memories; unstaking locks it again."""
    start = await state(http, alice, ID)
    assert (start["balance"], start["staked"], unlocked(start)) == (0, 0, ["public"])
    assert {m["tier"] for m in start["memories"]} == {"public"}
    assert start["next_tier"] == {"tier": "premium", "threshold": 100, "unlocked": False, "missing": 100}

    bought = await ok(http, alice, ID, "buy", amount=1000)
    assert (bought["balance"], bought["staked"]) == (1000, 0)
    staked = await ok(http, alice, ID, "stake", amount=600)
    assert (staked["balance"], staked["staked"], unlocked(staked)) == (400, 600, ["public", "premium", "expert"])
    assert {m["tier"] for m in staked["memories"]} == {"public", "premium", "expert"}

    unstaked = await ok(http, alice, ID, "unstake", amount=550)
    assert (unstaked["balance"], unstaked["staked"], unlocked(unstaked)) == (950, 50, ["public"])
    now = await state(http, alice, ID)
    assert (now["balance"], now["staked"]) == (950, 50)


async def test_overdrafts_and_bad_amounts_are_refused(http: httpx.AsyncClient, alice: dict) -> None:
    """Staking more than the balance or unstaking more than is staked is 409; amounts must be 1..1000 to buy."""
    problem(await act(http, alice, ID, "stake", amount=1), 409, "insufficient_funds")
    await ok(http, alice, ID, "buy", amount=100)
    problem(await act(http, alice, ID, "stake", amount=101), 409, "insufficient_funds")
    problem(await act(http, alice, ID, "unstake", amount=1), 409, "insufficient_funds")
    for bad in (0, -5, 1001):
        assert (
            "$.params.amount"
            in problem(await act(http, alice, ID, "buy", amount=bad), 422, "validation_error")["detail"]
        )
    problem(await act(http, alice, ID, "stake", amount="10"), 422, "validation_error")
    view = await state(http, alice, ID)
    assert (view["balance"], view["staked"]) == (100, 0)


async def test_concurrent_stakes_never_overdraw(http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool) -> None:
    """50 concurrent stakes of 10 against a balance of 200: exactly 20 succeed, and the journal agrees."""
    await ok(http, alice, ID, "buy", amount=200)
    responses = await asyncio.gather(*(act(http, alice, ID, "stake", amount=10) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 20 and statuses.count(409) == 30
    assert all(r.json()["code"] == "insufficient_funds" for r in responses if r.status_code == 409)
    view = await state(http, alice, ID)
    assert (view["balance"], view["staked"]) == (0, 200)

    user_id = alice["user"]["id"]
    journal = await pool.fetchrow(
        "SELECT sum(balance_delta) AS balance, sum(staked_delta) AS staked, count(*) FILTER (WHERE kind = 'stake') AS"
        " stakes, min(balance_after) AS lowest FROM ledger_entries WHERE user_id = $1",
        user_id,
    )
    assert (journal["balance"], journal["staked"], journal["stakes"], journal["lowest"]) == (0, 200, 20, 0)
    recorded = await pool.fetchval(
        "SELECT count(*) FROM prototype_interactions WHERE user_id = $1 AND interaction_type = 'stake'", user_id
    )
    assert recorded == 20
