"""/mcp beyond tools, through the SDK's own client: the user's tasks, conversations and replicas as resources, one
prompt per replica, and a `search` tool over the user's own conversations and tasks, never another user's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import msgspec
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated, listen
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent, TextResourceContents

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..conftest import bearer
from .test_mcp_server import call, mcp_session

SCHEME = "sensay-hub://"


async def _task(http: httpx.AsyncClient, login: dict, description: str) -> dict[str, Any]:
    created = await http.post("/api/tasks", json={"description": description}, headers=bearer(login))
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _say(http: httpx.AsyncClient, login: dict, replica_id: str, content: str) -> None:
    sent = await http.post(
        "/api/conversations", json={"replica_id": replica_id, "content": content}, headers=bearer(login)
    )
    assert sent.status_code == 201, sent.text


def _json(contents: list[Any]) -> Any:
    [content] = contents
    assert isinstance(content, TextResourceContents) and content.mime_type == "application/json"
    return msgspec.json.decode(content.text)


async def test_tasks_conversations_and_replicas_are_listed_and_readable_as_the_user(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Alice's client lists her task list, each task, her conversation with Socrates and each replica, and reads
    each of them; Bob's client lists none of Alice's, and reading her task's URI is an error."""
    milk = await _task(http, alice, "buy oat milk")
    await _say(http, alice, SOCRATES_UUID, "what is virtue")
    task_uri = f"{SCHEME}tasks/{milk['id']}"
    talk_uri = f"{SCHEME}conversations/{SOCRATES_UUID}"
    async with mcp_session(server, alice["access_token"]) as session:
        listed = {str(r.uri): r for r in (await session.list_resources()).resources}
        assert {f"{SCHEME}tasks", task_uri, talk_uri, f"{SCHEME}replicas/{SOCRATES_UUID}"} <= set(listed)
        assert f"{SCHEME}conversations/{ADA_LOVELACE_UUID}" not in listed  # no conversation with Ada yet
        assert listed[task_uri].title == "buy oat milk" and listed[talk_uri].title == "Conversation with Socrates"
        templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
        assert f"{SCHEME}tasks/{{task_id}}" in templates

        assert _json((await session.read_resource(task_uri)).contents)["task"]["description"] == "buy oat milk"
        assert [t["id"] for t in _json((await session.read_resource(f"{SCHEME}tasks")).contents)["tasks"]] == [
            milk["id"]
        ]
        talk = _json((await session.read_resource(talk_uri)).contents)
        assert [m["sender"] for m in talk["messages"]] == ["user", "replica"]
        assert talk["messages"][0]["content"] == "what is virtue"
        assert talk["messages"][1]["content"].startswith("Socrates asks")
        socrates = _json((await session.read_resource(f"{SCHEME}replicas/{SOCRATES_UUID}")).contents)
        assert socrates["name"] == "Socrates" and socrates["prompt"].startswith("talk-with-")
        with pytest.raises(MCPError):
            await session.read_resource(f"{SCHEME}nothing/here")

    async with mcp_session(server, bob["access_token"]) as session:
        listed_by_bob = {str(r.uri) for r in (await session.list_resources()).resources}
        assert task_uri not in listed_by_bob and talk_uri not in listed_by_bob
        with pytest.raises(MCPError) as refused:
            await session.read_resource(task_uri)
        assert "no task" in refused.value.error.message
        assert _json((await session.read_resource(talk_uri)).contents)["messages"] == []


async def test_each_replica_has_a_prompt(server: str, alice: dict) -> None:
    """prompts/list has one prompt per replica; getting Socrates' with a question gives one user message that
    names his replica id for ask_replica and carries the question; an unknown prompt is an error."""
    async with mcp_session(server, alice["access_token"]) as session:
        prompts = {p.title: p for p in (await session.list_prompts()).prompts}
        assert {"Talk with Socrates", "Talk with Ada Lovelace"} <= set(prompts)
        socrates = prompts["Talk with Socrates"]
        assert [(a.name, a.required) for a in socrates.arguments or []] == [("question", False)]
        got = await session.get_prompt(socrates.name, {"question": "is the unexamined life worth living?"})
        [message] = got.messages
        assert message.role == "user" and isinstance(message.content, TextContent)
        assert SOCRATES_UUID in message.content.text
        assert message.content.text.endswith("Ask Socrates: is the unexamined life worth living?")
        with pytest.raises(MCPError):
            await session.get_prompt("talk-with-nobody", {})


async def test_search_finds_the_users_own_messages_and_tasks_only(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Alice's search finds her task by a stemmed word ("buying" → "buy"), her messages by a word and by a part of
    one, each hit with the URI of its resource; Bob's same searches find only his own rows; `%` is literal."""
    await _say(http, alice, SOCRATES_UUID, "what is virtue")  # before the task: told of it, the replica mentions it
    await _task(http, alice, "buy oat milk")
    await _task(http, bob, "buy milk for the office")

    async with mcp_session(server, alice["access_token"]) as session:
        found = await call(session, "search", query="buying")
        assert [(h["kind"], h["snippet"]) for h in found["results"]] == [("task", "buy oat milk")]
        assert found["total"] == 1 and found["results"][0]["uri"].startswith(f"{SCHEME}tasks/")
        virtue = await call(session, "search", query="virtue", limit=10)
        assert virtue["results"] and {h["kind"] for h in virtue["results"]} == {"message"}
        assert {h["replica_id"] for h in virtue["results"]} == {SOCRATES_UUID}
        assert "what is virtue" in [h["snippet"] for h in virtue["results"]]
        assert virtue["results"][0]["uri"] == f"{SCHEME}conversations/{SOCRATES_UUID}"
        part = await call(session, "search", query="irtu")
        assert "what is virtue" in [h["snippet"] for h in part["results"]]
        assert (await call(session, "search", query="%"))["total"] == 0
        assert (await call(session, "search", query="office"))["total"] == 0

    async with mcp_session(server, bob["access_token"]) as session:
        assert [h["snippet"] for h in (await call(session, "search", query="milk"))["results"]] == [
            "buy milk for the office"
        ]
        assert (await call(session, "search", query="virtue"))["total"] == 0


@asynccontextmanager
async def modern_session(server: str, token: str) -> AsyncIterator[ClientSession]:
    """A client on the 2026-07-28 wire (``server/discover``), where change notifications come on listen streams."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http,
        streamable_http_client(f"{server}/mcp", http_client=http) as streams,
        ClientSession(streams[0], streams[1], read_timeout_seconds=10) as session,
    ):
        await session.discover()
        yield session


async def test_task_changes_reach_the_owners_listen_streams_only(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Alice listens for resource changes (`subscriptions/listen`): adding a task over REST gives her stream the
    task list's update and a changed resource list; completing it updates that task's URI. Bob, listening to the
    same URI, hears nothing of it: the first event on his stream is his own new task."""
    tasks_uri = f"{SCHEME}tasks"
    async with (
        modern_session(server, alice["access_token"]) as mine,
        modern_session(server, bob["access_token"]) as theirs,
        listen(mine, resources_list_changed=True, resource_subscriptions=[tasks_uri]) as alices,
    ):
        milk = await _task(http, alice, "buy oat milk")
        assert {await anext(alices), await anext(alices)} == {ResourceUpdated(uri=tasks_uri), ResourcesListChanged()}
        milk_uri = f"{SCHEME}tasks/{milk['id']}"

        async with (
            listen(mine, resource_subscriptions=[milk_uri]) as one_task,
            listen(theirs, resources_list_changed=True, resource_subscriptions=[milk_uri]) as bobs,
        ):
            done = await http.patch(f"/api/tasks/{milk['id']}", json={"status": "completed"}, headers=bearer(alice))
            assert done.status_code == 200, done.text
            assert await anext(one_task) == ResourceUpdated(uri=milk_uri)
            await _task(http, bob, "call the plumber")
            assert await anext(bobs) == ResourcesListChanged()
