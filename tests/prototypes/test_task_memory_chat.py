"""Task Memory in ordinary replica chat: commands over the socket and POST /api/conversations, due times, reminders."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.client import SensayClient
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import WsClient, connect, run_server, signup_and_login

ID = "task-memory"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Due work is looked for every 0.1 s, so reminders come within a test's patience."""
    return replace(settings, scheduler_interval=0.1)


async def sensay_history(replica: LocalReplica, user_id: str) -> list[str]:
    """What Sensay (the local replica) keeps of the user's conversation with Ada, read over its HTTP API."""
    transport = httpx.ASGITransport(app=replica)
    async with httpx.AsyncClient(transport=transport, base_url="http://sensay") as http:
        client = SensayClient(http, organization_secret=replica.organization_secret)
        return [item.content for item in await client.chat_history(user_id, ADA_LOVELACE_UUID)]


async def tasks_of(http: httpx.AsyncClient, login: dict) -> list[dict]:
    return (await http.get("/api/tasks", headers=bearer(login))).json()["tasks"]


async def reply_to(tab: WsClient, message_id: str) -> tuple[dict, list[dict]]:
    """The stored reply to ``message_id`` and the deltas that streamed it."""
    deltas = []
    while True:
        frame = await tab.recv()
        if frame["type"] == "reply.delta" and frame["reply_to"] == message_id:
            deltas.append(frame)
        if frame["type"] == "message" and frame["message"].get("reply_to") == message_id:
            return frame["message"], deltas


async def test_a_command_over_the_socket_is_streamed_stored_and_kept_out_of_sensay_history(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """ "add task call the plumber tomorrow at 5pm" adds a task due tomorrow 17:00; the reply streams, is stored in
    the chat stream, states the outcome, and Sensay's history holds neither the wrapper nor the command."""
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "chat.send", "id": "t-1", "replica_id": ADA_LOVELACE_UUID,
                        "content": "add task call the plumber tomorrow at 5pm"})  # fmt: skip
        ack, _ = await tab.recv_until("ack")
        reply, deltas = await reply_to(tab, ack["message_id"])
    assert len(deltas) > 1 and "".join(d["text"] for d in deltas) == reply["content"]
    assert 'Added task 1: "call the plumber tomorrow at 5pm"' in reply["content"]
    [task] = await tasks_of(http, alice)
    due = datetime.fromisoformat(task["due_at"])
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert (due.date(), due.hour, due.minute) == (tomorrow, 17, 0) and task["reminded_at"] is None

    history = await http.get("/api/conversations", params={"replica_id": ADA_LOVELACE_UUID}, headers=bearer(alice))
    assert [m["content"] for m in history.json()["messages"]] == [
        reply["content"],
        "add task call the plumber tomorrow at 5pm",
    ]
    assert await sensay_history(replica, alice["user"]["id"]) == []

    async with connect(server, alice["access_token"]) as tab:  # plain chat still reaches Sensay's history
        await tab.send({"type": "chat.send", "id": "t-2", "replica_id": ADA_LOVELACE_UUID, "content": "hello"})
        ack, _ = await tab.recv_until("ack")
        await reply_to(tab, ack["message_id"])
    assert "hello" in [m.rsplit("\n\n", 1)[-1] for m in await sensay_history(replica, alice["user"]["id"])]


async def test_sending_the_same_command_again_applies_it_once(http: httpx.AsyncClient, alice: dict) -> None:
    """POST /api/conversations with the same client_id twice: one task, the same reply, duplicate flagged."""
    body = {"replica_id": ADA_LOVELACE_UUID, "content": "add task buy milk", "client_id": "same"}
    first = await http.post("/api/conversations", json=body, headers=bearer(alice))
    again = await http.post("/api/conversations", json=body, headers=bearer(alice))
    assert first.status_code == 201 and again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["reply"] == first.json()["reply"]
    assert [t["description"] for t in await tasks_of(http, alice)] == ["buy milk"]


async def test_parallel_deletes_of_task_1_delete_exactly_one_task(http: httpx.AsyncClient, alice: dict) -> None:
    """Four parallel "delete task 1" over REST: task numbers never move, so all four name the same task; exactly
    one deletes it, the others are stored and told it is gone (never 409, never 500, never the next task)."""
    names = ["one", "two", "three", "four", "five"]
    for name in names:
        await http.post("/api/tasks", json={"description": name}, headers=bearer(alice))

    async def delete(n: int) -> httpx.Response:
        body = {"replica_id": ADA_LOVELACE_UUID, "content": "delete task 1", "client_id": f"del-{n}"}
        return await http.post("/api/conversations", json=body, headers=bearer(alice))

    answers = await asyncio.gather(*(delete(n) for n in range(4)))
    assert [a.status_code for a in answers] == [201] * 4
    replies = [a.json()["reply"]["content"] for a in answers]
    assert sum('Deleted task 1 "one".' in r for r in replies) == 1, replies
    assert all('Deleted task 1 "one".' in r or "There is no task 1 (any more)" in r or
               'Task 1 "one" was changed meanwhile' in r for r in replies), replies  # fmt: skip
    assert [(t["number"], t["description"]) for t in await tasks_of(http, alice)] == list(enumerate(names, 1))[1:]
    history = await http.get("/api/conversations", params={"replica_id": ADA_LOVELACE_UUID}, headers=bearer(alice))
    assert [m["content"] for m in history.json()["messages"] if m["sender"] == "user"] == ["delete task 1"] * 4


async def test_a_due_task_sends_one_reminder_to_every_tab(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    """A task due in a second reaches both of Alice's tabs once as a reminder event; a completed one never does."""
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    async with connect(server, alice["access_token"]) as tab1, connect(server, alice["access_token"]) as tab2:
        finished = {"description": "done already", "status": "completed", "due_at": soon}
        done = await http.post("/api/tasks", json=finished, headers=bearer(alice))
        created = await http.post(
            "/api/tasks", json={"description": "water plants", "due_at": soon}, headers=bearer(alice)
        )
        assert created.status_code == 201 and done.status_code == 201
        for tab in (tab1, tab2):
            reminders = [f for f in await tab.nothing_within(2.5) if f["type"] == "prototype.event"]
            assert [(r["event"], r["data"]["description"]) for r in reminders] == [("reminder", "water plants")]
    [reminded] = [t for t in await tasks_of(http, alice) if t["description"] == "water plants"]
    assert reminded["reminded_at"] is not None


async def test_a_reminder_due_while_the_server_was_down_is_sent_once_after_the_restart(
    settings: Settings, replica: LocalReplica
) -> None:
    """The task comes due while no server runs; the next start reminds it (recorded once), and a second start
    does not remind it again."""
    async with run_server(create_app(settings, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        login = await signup_and_login(http, "restart@example.com")
        due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        await http.post("/api/tasks", json={"description": "while down", "due_at": due}, headers=bearer(login))
        # Stopped at once: nothing is due yet.
    assert datetime.now(UTC) < datetime.fromisoformat(due)
    await asyncio.sleep(1.2)
    for _ in range(2):
        async with run_server(create_app(settings, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
            for _ in range(50):
                records = (await http.get(f"/api/prototype/{ID}", headers=bearer(login))).json()["interactions"]
                if any(r["interaction_type"] == "reminder" for r in records):
                    break
                await asyncio.sleep(0.1)
            assert [r["details"]["description"] for r in records if r["interaction_type"] == "reminder"] == [
                "while down"
            ]


@pytest.mark.redis
async def test_two_processes_send_each_reminder_exactly_once(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    """Two processes on one database and Redis: a tab on each gets the reminder once (one process claims it)."""
    shared = replace(settings, redis_url=Secret(shared_redis))
    async with (
        run_server(create_app(shared, replica=replica)) as a,
        run_server(create_app(shared, replica=replica)) as b,
    ):
        async with httpx.AsyncClient(base_url=a) as http:
            login = await signup_and_login(http, "twice@example.com")
            async with connect(a, login["access_token"]) as tab_a, connect(b, login["access_token"]) as tab_b:
                for n in range(5):
                    due = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
                    await http.post(
                        "/api/tasks", json={"description": f"task {n}", "due_at": due}, headers=bearer(login)
                    )
                for tab in (tab_a, tab_b):
                    frames = await tab.nothing_within(2.0)
                    reminders = sorted(f["data"]["description"] for f in frames if f["type"] == "prototype.event")
                    assert reminders == [f"task {n}" for n in range(5)]
            records = (await http.get(f"/api/prototype/{ID}", headers=bearer(login))).json()["interactions"]
            assert len([r for r in records if r["interaction_type"] == "reminder"]) == 5
