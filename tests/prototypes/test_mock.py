"""``/api/mock/*``: simulated telephony, $SNSY chain and MCP tools; deterministic, validated, recorded."""

from __future__ import annotations

import hashlib

import httpx

from server.prototypes.web3_sim import wallet_address

from ..conftest import bearer
from ..utils import connect
from .support import interaction_change, ok, problem, state

CALLS = "/api/mock/telephony/calls"
TRANSFERS = "/api/mock/web3/transfers"
TO = "0x" + "ab" * 20


async def test_call_moves_through_legal_transitions_only(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """queued → ringing → answered → completed, with simulated times; anything else is 409; others' calls 404."""
    placed = await http.post(CALLS, json={"to": "+14155550100", "from": "+14155550199"}, headers=bearer(alice))
    assert placed.status_code == 201, placed.text
    call = placed.json()["call"]
    expected = hashlib.sha256(f"{alice['user']['id']}|1|+14155550199|+14155550100".encode()).hexdigest()[:32]
    assert call["sid"] == f"CA{expected}" and placed.headers["location"] == f"{CALLS}/{call['sid']}"
    assert call["status"] == "queued" and call["events"] == [{"index": 0, "status": "queued", "at": 0}]

    events = f"{CALLS}/{call['sid']}/events"
    problem(await http.post(events, json={"status": "completed"}, headers=bearer(alice)), 409, "illegal_transition")
    for status in ("ringing", "answered", "completed"):
        response = await http.post(events, json={"status": status}, headers=bearer(alice))
        assert response.status_code == 200 and response.json()["call"]["status"] == status
    done = (await http.get(f"{CALLS}/{call['sid']}", headers=bearer(alice))).json()["call"]
    assert [(e["status"], e["at"]) for e in done["events"]] == [
        ("queued", 0),
        ("ringing", 1),
        ("answered", 5),
        ("completed", 35),
    ]
    assert done["duration_seconds"] == 30
    problem(await http.post(events, json={"status": "ringing"}, headers=bearer(alice)), 409, "illegal_transition")
    problem(await http.post(events, json={"status": "exploded"}, headers=bearer(alice)), 422, "validation_error")
    problem(await http.get(f"{CALLS}/{call['sid']}", headers=bearer(bob)), 404, "call_not_found")
    problem(await http.post(events, json={"status": "ringing"}, headers=bearer(bob)), 404, "call_not_found")
    problem(await http.post(CALLS, json={"to": "555-0100"}, headers=bearer(alice)), 422, "validation_error")


async def test_transfers_move_ledger_balances_and_a_nonce_keeps_identical_ones_apart(
    http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Alice (100 SNSY) sends 25 to Bob's wallet twice: two transfers (nonces 0, 1), Alice has 50 and Bob 50 in the
    ledger; the same nonce again answers the first; a transfer beyond the balance is 409 and moves nothing."""
    await ok(http, alice, "token-gated-memories", "buy", amount=100)
    to_bob = wallet_address(bob["user"]["id"])
    first = await http.post(TRANSFERS, json={"to": to_bob, "amount": 25, "token": "SNSY"}, headers=bearer(alice))
    second = await http.post(TRANSFERS, json={"to": to_bob, "amount": 25, "token": "SNSY"}, headers=bearer(alice))
    assert first.status_code == second.status_code == 201, first.text
    one, two = first.json()["transfer"], second.json()["transfer"]
    sender = wallet_address(alice["user"]["id"])
    assert (one["nonce"], two["nonce"]) == (0, 1) and one["hash"] != two["hash"] and one["from"] == sender
    assert one["hash"] == "0x" + hashlib.sha256(f"{sender}|{to_bob}|25|SNSY|0".encode()).hexdigest()

    again = await http.post(TRANSFERS, json={"to": to_bob, "amount": 25, "token": "SNSY", "nonce": 0},
                            headers=bearer(alice))  # fmt: skip
    assert again.status_code == 200 and again.json()["transfer"] == one
    assert (await state(http, alice, "token-gated-memories"))["balance"] == 50
    assert (await state(http, bob, "token-gated-memories"))["balance"] == 50
    assert (await http.get(f"{TRANSFERS}/{one['hash']}", headers=bearer(bob))).json()["transfer"] == one

    too_much = await http.post(TRANSFERS, json={"to": TO, "amount": 10**17, "token": "SNSY"}, headers=bearer(alice))
    problem(too_much, 409, "insufficient_funds")
    not_mine = {"to": TO, "amount": 1, "token": "SNSY", "from": to_bob}
    problem(await http.post(TRANSFERS, json=not_mine, headers=bearer(alice)), 403, "forbidden")
    assert (await state(http, alice, "token-gated-memories"))["balance"] == 50
    problem(await http.get(f"{TRANSFERS}/0x{'0' * 64}", headers=bearer(alice)), 404, "transfer_not_found")
    ledger = (await http.get("/api/ledger", params={"limit": 2}, headers=bearer(alice))).json()
    assert [e["kind"] for e in ledger["entries"]] == ["transfer_out", "transfer_out"] and ledger["next_before"]
    rest = await http.get("/api/ledger", params={"before": ledger["next_before"]}, headers=bearer(alice))
    assert [e["kind"] for e in rest.json()["entries"]] == ["mint"] and rest.json()["next_before"] is None


async def test_transfer_validation(http: httpx.AsyncClient, alice: dict) -> None:
    """A bad address, a non-positive amount or another token is 422 naming the field."""
    for body, field in [
        ({"to": "0x123", "amount": 1, "token": "SNSY"}, "$.to"),
        ({"to": TO, "amount": 0, "token": "SNSY"}, "$.amount"),
        ({"to": TO, "amount": 1, "token": "ETH"}, "$.token"),
        ({"to": TO, "amount": 1, "token": "SNSY", "from": "alice"}, "$.from"),
    ]:
        response = await http.post(TRANSFERS, json=body, headers=bearer(alice))
        assert field in problem(response, 422, "validation_error")["detail"]


async def test_mcp_tools_answer_like_the_prototype(http: httpx.AsyncClient, alice: dict) -> None:
    """A mock tool returns the same output as the MCP prototype; unknown tools 404, bad input 422."""
    response = await http.post("/api/mock/mcp/tools/calculator", json={"expression": "2 ** 10"}, headers=bearer(alice))
    assert response.status_code == 200
    assert response.json()["output"] == {"expression": "2 ** 10", "result": 1024}
    problem(await http.post("/api/mock/mcp/tools/shell", json={}, headers=bearer(alice)), 404, "tool_not_found")
    body = problem(
        await http.post("/api/mock/mcp/tools/search", json={"query": ""}, headers=bearer(alice)),
        422,
        "validation_error",
    )
    assert "$.query" in body["detail"]
    problem(
        await http.post("/api/mock/mcp/tools/calculator", json={"expression": "1/0"}, headers=bearer(alice)),
        422,
        "tool_failed",
    )


async def test_mock_calls_are_recorded_for_the_owner_only(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Each state-changing mock call adds a "mock" interaction that reaches Alice's socket and not Bob's."""
    async with connect(server, alice["access_token"]) as tab, connect(server, bob["access_token"]) as other:
        sid = (await http.post(CALLS, json={"to": "+14155550100"}, headers=bearer(alice))).json()["call"]["sid"]
        assert (await interaction_change(tab, "mock", "telephony.call"))["record"]["details"]["sid"] == sid
        await http.post(f"{CALLS}/{sid}/events", json={"status": "ringing"}, headers=bearer(alice))
        assert (await interaction_change(tab, "mock", "telephony.event"))["record"]["details"]["status"] == "ringing"
        await ok(http, alice, "token-gated-memories", "buy", amount=1)
        await http.post(TRANSFERS, json={"to": TO, "amount": 1, "token": "SNSY"}, headers=bearer(alice))
        await interaction_change(tab, "mock", "web3.transfer")
        await http.post("/api/mock/mcp/tools/search", json={"query": "memory"}, headers=bearer(alice))
        assert (await interaction_change(tab, "mock", "mcp.tool"))["record"]["details"]["tool"] == "search"
        assert await other.nothing_within(0.3) == []


async def test_mocks_need_a_token(http: httpx.AsyncClient) -> None:
    """Without a bearer token every mock answers 401."""
    problem(await http.post(CALLS, json={"to": "+14155550100"}), 401, "unauthorized")
    problem(await http.post(TRANSFERS, json={"to": TO, "amount": 1, "token": "SNSY"}), 401, "unauthorized")
    problem(await http.post("/api/mock/mcp/tools/search", json={"query": "x"}), 401, "unauthorized")
