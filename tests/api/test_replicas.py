"""``GET /api/replicas``: the replicas a user can chat with, in our snake_case shape."""

from __future__ import annotations

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..conftest import bearer
from ..utils import connect, scrape


async def test_replicas_answer_in_snake_case(http: httpx.AsyncClient, alice: dict) -> None:
    """Sensay's camelCase fields reach the front end as snake_case, and the first replica is the default."""
    response = await http.get("/api/replicas", headers=bearer(alice))
    assert response.status_code == 200
    body = response.json()
    ada = next(r for r in body["replicas"] if r["uuid"] == ADA_LOVELACE_UUID)
    assert ada["short_description"] == "Mathematician and the first programmer"
    assert ada["suggested_questions"] == ["What is the Analytical Engine?"]
    assert ada["owner_id"] and ada["profile_image"] and ada["llm"]["system_message"]
    camel = {key for replica in body["replicas"] for key in replica if key != key.lower()}
    assert camel == set(), "no camelCase field leaks from Sensay"
    assert body["default_replica_id"] == body["replicas"][0]["uuid"]


async def test_each_replica_shows_the_callers_evolution(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """After Alice evolves Socrates twice on the scholar path, her list shows it (level 2 of 5, "Reader", next 200)
    and null for the others; Bob's list shows no evolution at all."""
    bought = {"action": "buy", "params": {"amount": 150}}
    assert (
        await http.post("/api/prototype/token-gated-memories/actions", json=bought, headers=bearer(alice))
    ).is_success
    evolve = {"action": "evolve", "params": {"replica_id": SOCRATES_UUID, "path": "scholar"}}
    for _ in range(2):
        done = await http.post("/api/prototype/token-guided-evolution/actions", json=evolve, headers=bearer(alice))
        assert done.status_code == 200, done.text
    mine = (await http.get("/api/replicas", headers=bearer(alice))).json()["replicas"]
    assert {r["uuid"]: r["evolution"] for r in mine if r["evolution"]} == {
        SOCRATES_UUID: {"path": "scholar", "level": 2, "max_level": 5, "title": "Reader", "next_cost": 200}
    }
    theirs = (await http.get("/api/replicas", headers=bearer(bob))).json()["replicas"]
    assert [r["evolution"] for r in theirs] == [None] * len(theirs)


async def test_one_default_replica_rule_for_rest_and_the_prototypes(http: httpx.AsyncClient, alice: dict) -> None:
    """The replica directory names the same default to GET /api/replicas and to the Task Memory prototype."""
    listed = (await http.get("/api/replicas", headers=bearer(alice))).json()
    task_memory = (await http.get("/api/prototype/task-memory", headers=bearer(alice))).json()
    assert task_memory["state"]["default_replica_id"] == listed["default_replica_id"] == ADA_LOVELACE_UUID


@pytest.mark.parametrize("replica_id", [".", "..", "/", "%2F", "not-a-uuid", "a3d1e7c0-5b2f-4c8a-9e61-7f0d4b3a2c1"])
async def test_a_replica_id_that_is_not_a_uuid_is_unknown_without_asking_sensay(
    server: str, http: httpx.AsyncClient, alice: dict, replica_id: str
) -> None:
    """Ids Sensay never has (not UUIDs) are 404 replica_not_found on REST and the socket, without a Sensay call."""
    before = await scrape(server)
    response = await http.post(
        "/api/conversations", json={"replica_id": replica_id, "content": "hi"}, headers=bearer(alice)
    )
    assert response.status_code == 404 and response.json()["code"] == "replica_not_found", response.text
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "chat.send", "id": "x", "replica_id": replica_id, "content": "hi"})
        error = await tab.recv()
        assert error["type"] == "error" and error["code"] == "replica_not_found" and error["id"] == "x"
    after = await scrape(server)
    calls = [key for key in after if key[0] == "sensay_hub_sensay_requests_total" and after[key] != before.get(key)]
    assert not [key for key in calls if "replicaUUID" in str(key)], "no replica path was requested"
