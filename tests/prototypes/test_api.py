"""``/api/prototypes`` and ``/api/prototype/{id}``: descriptions, state, and the action envelope's errors."""

from __future__ import annotations

import httpx

from server.prototypes.registry import PROTOTYPES

from ..conftest import bearer
from .support import act, problem

IDS = [
    "task-memory",
    "pure-voice",
    "mcp",
    "token-gated-memories",
    "token-guided-evolution",
    "bonding-replicas",
    "chatroom",
]


async def test_every_prototype_is_described_with_the_callers_state(http: httpx.AsyncClient, alice: dict) -> None:
    """The list names the seven; each one answers id, description (actions with params schemas), state, interactions."""
    listed = (await http.get("/api/prototypes", headers=bearer(alice))).json()["prototypes"]
    assert [p["id"] for p in listed] == IDS == list(PROTOTYPES)
    for prototype_id in IDS:
        response = await http.get(f"/api/prototype/{prototype_id}", headers=bearer(alice))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == prototype_id and isinstance(body["state"], dict) and body["interactions"] == []
        assert body["description"]["name"] and body["description"]["summary"]
        for action in body["description"]["actions"].values():
            assert action["summary"] and "$defs" in action["params"]
    stake = (await http.get("/api/prototype/token-gated-memories", headers=bearer(alice))).json()
    assert stake["description"]["actions"]["stake"]["params"]["$defs"]["TokenAmountParams"]["required"] == ["amount"]


async def test_interactions_are_listed_newest_first(http: httpx.AsyncClient, alice: dict) -> None:
    """The GET answer carries the caller's latest interactions with that prototype."""
    for amount in (1, 2):
        assert (await act(http, alice, "token-gated-memories", "buy", amount=amount)).status_code == 200
    body = (await http.get("/api/prototype/token-gated-memories", headers=bearer(alice))).json()
    assert [(i["interaction_type"], i["details"]["amount"]) for i in body["interactions"]] == [("buy", 2), ("buy", 1)]


async def test_envelope_errors_are_problems(http: httpx.AsyncClient, alice: dict) -> None:
    """Unknown prototype 404, unknown action 422, bad params name the field, no token 401."""
    problem(await http.get("/api/prototype/nope", headers=bearer(alice)), 404, "prototype_not_found")
    problem(await act(http, alice, "nope", "chat", content="hi"), 404, "prototype_not_found")
    body = problem(await act(http, alice, "mcp", "explode"), 422, "unknown_action")
    assert "run_workflow" in body["detail"]
    body = problem(
        await act(http, alice, "pure-voice", "say", call_id="not-a-uuid", text="hi"), 422, "validation_error"
    )
    assert "$.params.call_id" in body["detail"]
    body = problem(await act(http, alice, "pure-voice", "stop_call"), 422, "validation_error")
    assert "call_id" in body["detail"] and "$.params" in body["detail"]
    body = problem(await act(http, alice, "token-gated-memories", "buy", amount=1, extra=True), 422, "validation_error")
    assert "extra" in body["detail"]
    response = await http.post("/api/prototype/mcp/actions", json={"params": {}}, headers=bearer(alice))
    problem(response, 422, "validation_error")
    problem(await http.get("/api/prototype/mcp"), 401, "unauthorized")
    problem(await http.post("/api/prototype/mcp/actions", json={"action": "run_workflow"}), 401, "unauthorized")
