"""Replica Task Memory over REST: chat commands change the task list and the replica confirms the outcome."""

from __future__ import annotations

import httpx

from server.sensay.local import SOCRATES_UUID

from ..conftest import bearer
from .support import act, ok, problem, state

ID = "task-memory"


async def tasks_of(http: httpx.AsyncClient, login: dict) -> list[dict]:
    return (await http.get("/api/tasks", headers=bearer(login))).json()["tasks"]


async def test_add_complete_delete_and_list_through_chat(http: httpx.AsyncClient, alice: dict) -> None:
    """Each command changes the tasks table, returns the task(s), and the replica's reply states the outcome."""
    added = await ok(http, alice, ID, "chat", content="add task buy milk")
    assert added["command"] == "add" and added["ok"] is True
    assert added["task"]["description"] == "buy milk" and added["task"]["status"] == "pending"
    assert 'Added task 1: "buy milk"' in added["reply"] and added["reply"].startswith("Ada Lovelace")
    await ok(http, alice, ID, "chat", content="Please add walk the dog to my to-do list")

    done = await ok(http, alice, ID, "chat", content="Mark task #1 as done.")
    assert done["command"] == "complete" and done["task"]["status"] == "completed"
    assert 'Marked task 1 "buy milk" as completed' in done["reply"]

    listed = await ok(http, alice, ID, "chat", content="show my tasks")
    assert listed["command"] == "list" and [t["description"] for t in listed["tasks"]] == ["buy milk", "walk the dog"]
    assert '1. "buy milk" (completed); 2. "walk the dog" (pending)' in listed["reply"]

    deleted = await ok(http, alice, ID, "chat", content="remove task 1")
    assert deleted["command"] == "delete" and deleted["task"] is None
    assert 'Deleted task 1 "buy milk"' in deleted["reply"]
    assert [t["description"] for t in await tasks_of(http, alice)] == ["walk the dog"]
    assert [t["description"] for t in (await state(http, alice, ID))["tasks"]] == ["walk the dog"]


async def test_a_position_past_the_end_changes_nothing(http: httpx.AsyncClient, alice: dict) -> None:
    """ "complete task 5" with one task is answered (ok false) and the replica says there is no such task."""
    await ok(http, alice, ID, "chat", content="add task only one")
    result = await ok(http, alice, ID, "chat", content="complete task 5")
    assert result["ok"] is False and result["task"] is None and result["outcome"].startswith("There is no task 5")
    assert "There is no task 5 (any more); your tasks are numbered 1." in result["reply"]
    assert [t["status"] for t in await tasks_of(http, alice)] == ["pending"]


async def test_ordinary_chat_goes_to_the_chosen_replica(http: httpx.AsyncClient, alice: dict) -> None:
    """A message that is no command is just chatted, with the replica given (Socrates here)."""
    result = await ok(http, alice, ID, "chat", content="what is virtue", replica_id=SOCRATES_UUID)
    assert result["command"] is None and result["reply"].startswith('Socrates asks: you say "what is virtue"')
    assert await tasks_of(http, alice) == []


async def test_unknown_replica_is_404_and_changes_nothing(http: httpx.AsyncClient, alice: dict) -> None:
    """The replica is checked before the list changes: no task is created for a replica that does not exist."""
    missing = "00000000-0000-4000-8000-000000000000"
    problem(await act(http, alice, ID, "chat", content="add task x", replica_id=missing), 404, "replica_not_found")
    problem(await act(http, alice, ID, "chat", content="hi", replica_id=missing), 404, "replica_not_found")
    assert await tasks_of(http, alice) == []
