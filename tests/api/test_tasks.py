"""``/api/tasks``: CRUD of one's own tasks, and nothing of anyone else's."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ..conftest import bearer


async def test_task_lifecycle(http: httpx.AsyncClient, alice: dict) -> None:
    auth = bearer(alice)
    created = await http.post("/api/tasks", json={"description": "buy milk"}, headers=auth)
    assert created.status_code == 201
    task = created.json()
    assert task["status"] == "pending" and task["description"] == "buy milk"
    assert created.headers["location"] == f"/api/tasks/{task['id']}"

    await http.post("/api/tasks", json={"description": "walk the dog", "status": "in_progress"}, headers=auth)
    listed = (await http.get("/api/tasks", headers=auth)).json()["tasks"]
    assert [t["description"] for t in listed] == ["buy milk", "walk the dog"]

    patched = await http.patch(f"/api/tasks/{task['id']}", json={"status": "completed"}, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["status"] == "completed" and patched.json()["description"] == "buy milk"
    assert patched.json()["updated_at"] >= task["updated_at"]

    deleted = await http.delete(f"/api/tasks/{task['id']}", headers=auth)
    assert deleted.status_code == 204
    remaining = (await http.get("/api/tasks", headers=auth)).json()["tasks"]
    assert [t["description"] for t in remaining] == ["walk the dog"]
    again = await http.delete(f"/api/tasks/{task['id']}", headers=auth)
    assert again.status_code == 404


async def test_users_cannot_see_or_touch_each_others_tasks(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    secret = (await http.post("/api/tasks", json={"description": "alice's secret"}, headers=bearer(alice))).json()
    assert (await http.get("/api/tasks", headers=bearer(bob))).json()["tasks"] == []
    path = f"/api/tasks/{secret['id']}"
    assert (await http.patch(path, json={"status": "completed"}, headers=bearer(bob))).status_code == 404
    assert (await http.delete(path, headers=bearer(bob))).status_code == 404
    mine = (await http.get("/api/tasks", headers=bearer(alice))).json()["tasks"]
    assert [(t["description"], t["status"]) for t in mine] == [("alice's secret", "pending")]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"description": ""},
        {"description": "x", "status": "done"},
        {"description": "x", "user_id": str(uuid.uuid4())},
        {"description": "x" * 2001},
    ],
)
async def test_invalid_task_is_422(http: httpx.AsyncClient, alice: dict, body: dict) -> None:
    response = await http.post("/api/tasks", json=body, headers=bearer(alice))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await http.get("/api/tasks", headers=bearer(alice))).json()["tasks"] == []


async def test_patch_needs_a_change_and_a_valid_id(http: httpx.AsyncClient, alice: dict) -> None:
    task = (await http.post("/api/tasks", json={"description": "x"}, headers=bearer(alice))).json()
    empty = await http.patch(f"/api/tasks/{task['id']}", json={}, headers=bearer(alice))
    assert empty.status_code == 422
    bad_id = await http.patch("/api/tasks/not-a-uuid", json={"status": "completed"}, headers=bearer(alice))
    assert bad_id.status_code == 404 and bad_id.json()["code"] == "not_found"


async def test_tasks_need_a_token(http: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/api/tasks"), ("POST", "/api/tasks"), ("DELETE", f"/api/tasks/{uuid.uuid4()}")]:
        response = await http.request(method, path, json={"description": "x"})
        assert response.status_code == 401, (method, path)
