"""Tasks in ordinary words, over the socket, REST and MCP: sentences add, complete and delete tasks, words that
name several tasks are asked back, numbered commands name tasks that never move, and the replica is told the
user's open tasks so it brings one up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID, TASK_MEMORY_UUID, LocalReplica

from ..conftest import bearer
from ..utils import WsClient, connect
from .test_mcp_server import call, mcp_session


async def tasks_of(http: httpx.AsyncClient, login: dict) -> list[dict]:
    return (await http.get("/api/tasks", headers=bearer(login))).json()["tasks"]


async def add(http: httpx.AsyncClient, login: dict, description: str, due_at: datetime | None = None) -> dict:
    body = {"description": description, **({"due_at": due_at.isoformat()} if due_at else {})}
    response = await http.post("/api/tasks", json=body, headers=bearer(login))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def say(http: httpx.AsyncClient, login: dict, content: str, replica_id: str = TASK_MEMORY_UUID) -> str:
    """Chat over REST; the replica's reply."""
    response = await http.post(
        "/api/conversations", json={"replica_id": replica_id, "content": content}, headers=bearer(login)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["reply"]["content"])


async def say_on(tab: WsClient, message_id: str, content: str) -> str:
    """Chat over the socket; the stored reply's content."""
    await tab.send({"type": "chat.send", "id": message_id, "replica_id": TASK_MEMORY_UUID, "content": content})
    ack, _ = await tab.recv_until("ack")
    while True:
        frame = await tab.recv()
        if frame["type"] == "message" and frame["message"].get("reply_to") == ack["message_id"]:
            return str(frame["message"]["content"])


async def test_sentences_over_the_socket_add_tasks_with_their_due_times(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """ "I need to buy milk on Friday" and "don't let me forget the dentist next Tuesday at 9" each add a task due
    then (Friday; Tuesday 09:00), and the reply says so; plain chat adds nothing."""
    async with connect(server, alice["access_token"]) as tab:
        milk = await say_on(tab, "w-1", "I need to buy milk on Friday")
        dentist = await say_on(tab, "w-2", "don't let me forget the dentist next Tuesday at 9")
        await say_on(tab, "w-3", "what a lovely day")
    assert 'Added task 1: "buy milk on Friday". It is due Fri' in milk
    assert 'Added task 2: "the dentist next Tuesday at 9". It is due Tue' in dentist and "09:00" in dentist
    found = await tasks_of(http, alice)
    assert [(t["number"], t["description"]) for t in found] == [
        (1, "buy milk on Friday"),
        (2, "the dentist next Tuesday at 9"),
    ]
    now = datetime.now(UTC)
    friday, tuesday = (datetime.fromisoformat(t["due_at"]) for t in found)
    assert friday.weekday() == 4 and now - timedelta(days=1) < friday <= now + timedelta(days=7)
    assert (tuesday.weekday(), tuesday.hour, tuesday.minute) == (1, 9, 0) and tuesday <= now + timedelta(days=14)


async def test_what_the_user_did_completes_or_removes_the_task_it_names(http: httpx.AsyncClient, alice: dict) -> None:
    """Over REST: "I called Bob" completes "call Bob", "forget the dentist" deletes the dentist; "done with the milk"
    with two milk tasks changes nothing and the replica asks which; "done with the report" names none and is asked
    back too; the answer "task 3" then completes it."""
    await add(http, alice, "call Bob")
    await add(http, alice, "the dentist")
    await add(http, alice, "buy milk")
    await add(http, alice, "pick up milk from Sam")

    called = await say(http, alice, "I called Bob")
    assert 'Marked task 1 "call Bob" as completed.' in called
    which = await say(http, alice, "done with the milk")
    assert 'Nothing was changed: "the milk" could be task 3 "buy milk" or task 4 "pick up milk from Sam".' in which
    assert "Which one should I complete?" in which and which.startswith("Task Memory here: I need a word from you.")
    none = await say(http, alice, "Done with the report.")
    assert 'no task matches "the report". Which task should I complete? The tasks: 2. "the dentist"; 3.' in none
    assert [t["status"] for t in await tasks_of(http, alice)] == ["completed", "pending", "pending", "pending"]

    assert 'Marked task 3 "buy milk" as completed.' in await say(http, alice, "task 3 is done")
    assert 'Deleted task 2 "the dentist".' in await say(http, alice, "forget the dentist")
    assert [(t["number"], t["status"]) for t in await tasks_of(http, alice)] == [
        (1, "completed"),
        (3, "completed"),
        (4, "pending"),
    ]


async def test_a_remark_that_names_no_task_is_ordinary_chat(http: httpx.AsyncClient, alice: dict) -> None:
    """ "I called my mum" with only "call Bob" open changes nothing and is answered as chat (kept in Sensay's
    history, not asked aside)."""
    await add(http, alice, "call Bob")
    reply = await say(http, alice, "I called my mum", replica_id=SOCRATES_UUID)
    assert reply.startswith('Socrates asks: you say "I called my mum"')
    assert [t["status"] for t in await tasks_of(http, alice)] == ["pending"]


async def test_two_sockets_deleting_task_1_at_once_delete_exactly_one_task(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """Two tabs send "delete task 1" at the same moment: both are stored and answered, exactly one task is gone
    (task 1), and the other is told there is no task 1 any more (it never deletes task 2)."""
    for name in ["one", "two", "three"]:
        await add(http, alice, name)
    async with connect(server, alice["access_token"]) as first, connect(server, alice["access_token"]) as second:
        replies = await asyncio.gather(say_on(first, "d-1", "delete task 1"), say_on(second, "d-2", "delete task 1"))
    assert sum('Deleted task 1 "one".' in r for r in replies) == 1, replies
    assert [(t["number"], t["description"]) for t in await tasks_of(http, alice)] == [(2, "two"), (3, "three")]
    assert "There is no task 1" in await say(http, alice, "delete task 1")
    assert [t["number"] for t in await tasks_of(http, alice)] == [2, 3]


async def test_the_replica_is_told_the_open_tasks_and_brings_the_soonest_up(
    http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """In ordinary chat the replica is told the user's open tasks, due soonest first (completed ones left out),
    once per change; the local replica brings up the soonest due ("it reminded me I hadn't done it yet")."""
    now = datetime.now(UTC)
    await add(http, alice, "no rush")
    await add(http, alice, "file the taxes", now + timedelta(days=9))
    await add(http, alice, "water the plants", now + timedelta(days=1))
    done = await add(http, alice, "done already")
    await http.patch(f"/api/tasks/{done['id']}", json={"status": "completed"}, headers=bearer(alice))

    first = await say(http, alice, "hello", replica_id=ADA_LOVELACE_UUID)
    assert 'By the way, you have not done task 3: "water the plants" (due ' in first
    second = await say(http, alice, "how are you?", replica_id=ADA_LOVELACE_UUID)
    assert "By the way" not in second, "told once per change"
    said = replica.said_to(alice["user"]["id"], ADA_LOVELACE_UUID)
    told = said[0].split("]\n\n")[0].split("\n")
    heading = told.index("The user's open tasks, due soonest first (bring one up when it helps them):")
    assert [line.split(":")[0] for line in told[heading + 1 :]] == ["- task 3", "- task 2", "- task 1"]
    assert "done already" not in said[0] and said[1] == "how are you?"


async def test_ask_replica_over_mcp_understands_ordinary_words(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """The MCP ask_replica tool reaches the same conversation: "I need to renew my passport" adds the task."""
    async with mcp_session(server, alice["access_token"]) as session:
        answer = await call(session, "ask_replica", question="I need to renew my passport", replica_id=TASK_MEMORY_UUID)
    assert 'Added task 1: "renew my passport".' in answer["answer"]
    assert [t["description"] for t in await tasks_of(http, alice)] == ["renew my passport"]
