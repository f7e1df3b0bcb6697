"""Token-Gated Memories: buy, stake and unstake mock $SNSY; tiers unlock by stake; balances never go negative."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import httpx

from server.app import create_app
from server.config import Settings
from server.prototypes.token_gated_memories import unlock_price
from server.sensay.local import ADA_LOVELACE_UUID as ADA
from server.sensay.local import LocalReplica

from ..conftest import bearer
from ..utils import connect, run_server, signup_and_login
from .support import act, collect_events, ok, problem, state

ID = "token-gated-memories"


def unlocked(view: dict) -> list[str]:
    return [t["tier"] for t in view["tiers"] if t["unlocked"]]


def visible(view: dict) -> dict[str, str | None]:
    """The users' own memories (not the house memories the personas ship with): id -> content if unlocked."""
    return {m["id"]: m["content"] for m in view["memories"] if not m["house"]}


def house(view: dict, replica_id: str, tier: str) -> list[dict]:
    return [m for m in view["memories"] if m["house"] and m["replica_id"] == replica_id and m["tier"] == tier]


async def test_stake_levels_open_whole_tiers(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """Bob's premium and expert memories of Ada stay hidden from Alice until her stake reaches 100, then 500."""
    premium = (await ok(http, bob, ID, "add_memory", replica_id=ADA, tier="premium", content="Note G"))["memory"]
    expert = (await ok(http, bob, ID, "add_memory", replica_id=ADA, tier="expert", content="Bernoulli"))["memory"]
    start = await state(http, alice, ID)
    assert (start["balance"], start["staked"], unlocked(start)) == (0, 0, ["public"])
    assert visible(start) == {premium["id"]: None, expert["id"]: None}
    assert start["next_tier"] == {"tier": "premium", "threshold": 100, "missing": 100}

    await ok(http, alice, ID, "buy", amount=1000)
    staked = await ok(http, alice, ID, "stake", amount=600)
    assert (staked["balance"], staked["staked"], unlocked(staked)) == (400, 600, ["public", "premium", "expert"])
    assert visible(await state(http, alice, ID)) == {premium["id"]: "Note G", expert["id"]: "Bernoulli"}
    unstaked = await ok(http, alice, ID, "unstake", amount=550)
    assert (unstaked["balance"], unstaked["staked"], unlocked(unstaked)) == (950, 50, ["public"])
    assert visible(await state(http, alice, ID)) == {premium["id"]: None, expert["id"]: None}


async def test_unlock_one_memory_by_spending_pays_its_author(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """Alice spends 10 on Bob's premium memory: she sees it, Bob's balance grows by 10, a second unlock is 409."""
    memory = (await ok(http, bob, ID, "add_memory", replica_id=ADA, tier="premium", content="Note G"))["memory"]
    problem(await act(http, alice, ID, "unlock", memory_id=memory["id"]), 409, "insufficient_funds")
    await ok(http, alice, ID, "buy", amount=30)
    unlocked_now = await ok(http, alice, ID, "unlock", memory_id=memory["id"], method="spend")
    assert unlocked_now["balance"] == 20 and unlocked_now["unlock"]["expires_at"] is None
    assert visible(await state(http, alice, ID))[memory["id"]] == "Note G"
    assert (await state(http, bob, ID))["balance"] == 10
    problem(await act(http, alice, ID, "unlock", memory_id=memory["id"]), 409, "already_unlocked")
    problem(await act(http, bob, ID, "unlock", memory_id=memory["id"]), 409, "already_unlocked")  # the author


async def test_a_staked_unlock_lapses_with_decay_unless_renewed_or_released(
    settings: Settings, replica: LocalReplica
) -> None:
    """With a 1 s term: a released stake comes back whole; a lapsed one locks the memory again and comes back
    less 10 %, once (one lapse record, one stake_lapsed event). The second stake is on a price the first unlock
    raised (55)."""
    quick = replace(settings, memory_stake_seconds=1.0, scheduler_interval=0.1)
    async with run_server(create_app(quick, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        alice = await signup_and_login(http, "alice@example.com")
        bob = await signup_and_login(http, "bob@example.com")
        memory = (await ok(http, bob, ID, "add_memory", replica_id=ADA, tier="expert", content="secret"))["memory"]
        await ok(http, alice, ID, "buy", amount=1000)
        held = (await ok(http, alice, ID, "unlock", memory_id=memory["id"], method="stake"))["unlock"]
        assert held["amount"] == 250 and (await state(http, alice, ID))["balance"] == 750
        released = await ok(http, alice, ID, "release", unlock_id=held["id"])
        assert released["returned"] == 250 and released["balance"] == 1000

        async with connect(url, alice["access_token"]) as tab:
            again = await ok(http, alice, ID, "unlock", memory_id=memory["id"], method="stake")
            assert again["unlock"]["amount"] == 275
            assert visible(await state(http, alice, ID))[memory["id"]] == "secret"
            [lapsed] = await collect_events(tab, ID, "stake_lapsed", lambda e: True)
        assert lapsed["returned"] == 248  # 275 less 10 %, rounded in the holder's favour
        after = await state(http, alice, ID)
        assert after["balance"] == 973 and visible(after)[memory["id"]] is None and after["unlocks"] == []
        records = (await http.get(f"/api/prototype/{ID}", headers=bearer(alice))).json()["interactions"]
        assert [r["interaction_type"] for r in records].count("lapse") == 1


async def test_the_marketplace_moves_an_unlock_and_its_price_between_users(
    http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Bob sells his spent unlock of Carol's memory for 40; Alice buys it: Bob gets 40 and loses access, Alice
    gains it; a second buyer finds the listing closed (409)."""
    carol = await signup_and_login(http, "carol@example.com")
    memory = (await ok(http, carol, ID, "add_memory", replica_id=ADA, tier="premium", content="letters"))["memory"]
    await ok(http, bob, ID, "buy", amount=10)
    held = (await ok(http, bob, ID, "unlock", memory_id=memory["id"]))["unlock"]
    listing = (await ok(http, bob, ID, "sell", unlock_id=held["id"], price=40))["listing"]
    offers = (await state(http, alice, ID))["marketplace"]
    assert [(o["id"], o["price"], o["tier"]) for o in offers] == [(listing["id"], 40, "premium")]
    assert "content" not in offers[0]

    problem(await act(http, alice, ID, "buy_listing", listing_id=listing["id"]), 409, "insufficient_funds")
    problem(await act(http, bob, ID, "buy_listing", listing_id=listing["id"]), 403, "forbidden")
    await ok(http, alice, ID, "buy", amount=50)
    bought = await ok(http, alice, ID, "buy_listing", listing_id=listing["id"])
    assert bought["balance"] == 10 and bought["unlock"]["method"] == "purchase"
    assert visible(await state(http, alice, ID))[memory["id"]] == "letters"
    bob_now = await state(http, bob, ID)
    assert bob_now["balance"] == 40 and visible(bob_now)[memory["id"]] is None
    dave = await signup_and_login(http, "dave@example.com")
    await ok(http, dave, ID, "buy", amount=100)
    problem(await act(http, dave, ID, "buy_listing", listing_id=listing["id"]), 409, "listing_closed")


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


async def test_a_new_user_finds_memories_to_unlock_on_every_persona(http: httpx.AsyncClient, alice: dict) -> None:
    """Before doing anything, Alice sees two locked house memories per lockable tier of every local replica, at
    the tiers' prices; spending 10 on one of Ada's opens it (the tokens go to no one) and Ada is told it."""
    replicas = (await http.get("/api/replicas", headers=bearer(alice))).json()["replicas"]
    start = await state(http, alice, ID)
    for replica in replicas:
        for tier, price in (("premium", 10), ("expert", 50), ("exclusive", 200)):
            shipped = house(start, replica["uuid"], tier)
            assert len(shipped) == 2, (replica["name"], tier)
            assert [(m["unlocked"], m["content"], m["price"]) for m in shipped] == [(False, None, price)] * 2
        assert house(start, replica["uuid"], "public") == [], "public memories would reach every chat"

    chosen = house(start, ADA, "premium")[0]
    await ok(http, alice, ID, "buy", amount=10)
    done = await ok(http, alice, ID, "unlock", memory_id=chosen["id"])
    assert done["balance"] == 0 and done["unlock"]["amount"] == 10
    opened = {m["id"]: m for m in (await state(http, alice, ID))["memories"]}[chosen["id"]]
    assert opened["unlocked"] and opened["content"]
    journal = (await http.get("/api/ledger", headers=bearer(alice))).json()["entries"]
    assert [(e["kind"], e["amount"]) for e in journal] == [("spend", 10), ("mint", 10)]
    reply = await http.post("/api/conversations", json={"replica_id": ADA, "content": "hi"}, headers=bearer(alice))
    assert opened["content"] in reply.json()["reply"]["content"]


def test_the_price_rule_has_a_floor_and_a_cap() -> None:
    """A tenth of the base per unlock so far, rounded down, from the base up to three times it."""
    assert [unlock_price(10, n) for n in (0, 1, 2, 9, 19, 20, 21, 500)] == [10, 11, 12, 19, 29, 30, 30, 30]
    assert [unlock_price(50, n) for n in (0, 1, 3)] == [50, 55, 65]
    assert [unlock_price(5, n) for n in (0, 1, 2, 3)] == [5, 5, 6, 6]
    assert [unlock_price(0, n) for n in (0, 7)] == [0, 0], "a free memory stays free"


async def test_each_unlock_raises_the_next_ones_price(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """Bob's premium memory costs 10; after Alice spends on it Carol pays 11, a staked unlock then locks 5 x 12,
    and the state shows the next price with its base."""
    memory = (await ok(http, bob, ID, "add_memory", replica_id=ADA, tier="premium", content="Note G"))["memory"]
    assert (memory["price"], memory["base_price"], memory["unlocks"]) == (10, 10, 0)
    carol = await signup_and_login(http, "carol@example.com")
    dave = await signup_and_login(http, "dave@example.com")
    for user in (alice, carol, dave):
        await ok(http, user, ID, "buy", amount=100)
    first = await ok(http, alice, ID, "unlock", memory_id=memory["id"])
    assert (first["unlock"]["amount"], first["balance"], first["memory"]["price"]) == (10, 90, 11)
    second = await ok(http, carol, ID, "unlock", memory_id=memory["id"])
    assert (second["unlock"]["amount"], second["balance"]) == (11, 89)
    staked = await ok(http, dave, ID, "unlock", memory_id=memory["id"], method="stake")
    assert (staked["unlock"]["amount"], staked["balance"]) == (60, 40)
    listed = {m["id"]: m for m in (await state(http, bob, ID))["memories"]}[memory["id"]]
    assert (listed["price"], listed["base_price"], listed["unlocks"]) == (13, 10, 3)
    assert (await state(http, bob, ID))["balance"] == 21, "spent prices go to the author; a stake does not"


async def test_two_unlocks_at_once_charge_once(http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool) -> None:
    """Alice's two simultaneous unlocks of one memory: one succeeds, one is 409 already_unlocked, one charge."""
    memory = house(await state(http, alice, ID), ADA, "expert")[0]
    await ok(http, alice, ID, "buy", amount=120)
    responses = await asyncio.gather(*(act(http, alice, ID, "unlock", memory_id=memory["id"]) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == ["already_unlocked"]
    assert (await state(http, alice, ID))["balance"] == 70
    spends = await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE user_id = $1 AND kind = 'spend'", alice["user"]["id"]
    )
    assert spends == 1


async def test_two_free_unlocks_at_once_by_a_user_without_an_account(
    http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Alice, who never bought a token, unlocks Bob's free memory twice at once: 200 and 409 already_unlocked."""
    free = await ok(http, bob, ID, "add_memory", replica_id=ADA, tier="premium", content="on the house", price=0)
    responses = await asyncio.gather(
        *(act(http, alice, ID, "unlock", memory_id=free["memory"]["id"]) for _ in range(2))
    )
    assert sorted((r.status_code, r.json().get("code")) for r in responses) == [
        (200, None),
        (409, "already_unlocked"),
    ]


async def test_simultaneous_unlocks_by_different_users_pay_successive_prices(http: httpx.AsyncClient) -> None:
    """Four users unlock the same house memory at once: they pay 10, 11, 12 and 13, each price once."""
    users = [await signup_and_login(http, f"user{n}@example.com") for n in range(4)]
    memory = house(await state(http, users[0], ID), ADA, "premium")[0]
    for user in users:
        await ok(http, user, ID, "buy", amount=100)
    responses = await asyncio.gather(*(act(http, u, ID, "unlock", memory_id=memory["id"]) for u in users))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["result"]["unlock"]["amount"] for r in responses) == [10, 11, 12, 13]
