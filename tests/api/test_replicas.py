"""``GET /api/replicas``: the replicas a user can chat with, in our snake_case shape."""

from __future__ import annotations

import httpx

from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import bearer


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


async def test_one_default_replica_rule_for_rest_and_the_prototypes(http: httpx.AsyncClient, alice: dict) -> None:
    """The replica directory names the same default to GET /api/replicas and to the Task Memory prototype."""
    listed = (await http.get("/api/replicas", headers=bearer(alice))).json()
    task_memory = (await http.get("/api/prototype/task-memory", headers=bearer(alice))).json()
    assert task_memory["state"]["default_replica_id"] == listed["default_replica_id"] == ADA_LOVELACE_UUID
