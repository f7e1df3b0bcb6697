"""/mcp speaks the Model Context Protocol to the SDK's own client, as the user whose bearer token it presents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import msgspec
from jsonschema import Draft202012Validator
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..conftest import bearer

JSON = "application/json"
INITIALIZE_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


@asynccontextmanager
async def mcp_session(server: str, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as http,
        streamable_http_client(f"{server}/mcp", http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_the_sdk_client_lists_tools_and_works_on_the_users_tasks_and_replicas(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Alice's MCP client lists the tools, adds and completes a task, lists replicas and asks Socrates; all of it
    is Alice's (her task list and chat history over REST), none of it Bob's."""
    async with mcp_session(server, alice["access_token"]) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"ask_replica", "list_replicas", "list_tasks", "add_task", "update_task", "delete_task"} <= set(tools)
        assert tools["add_task"].input_schema["required"] == ["description"]

        added = await call(session, "add_task", description="buy milk")
        await call(session, "update_task", task_id=added["task"]["id"], status="completed")
        listed = await call(session, "list_tasks")
        assert [(t["description"], t["status"]) for t in listed["tasks"]] == [("buy milk", "completed")]

        replicas = await call(session, "list_replicas")
        assert {ADA_LOVELACE_UUID, SOCRATES_UUID} <= {r["id"] for r in replicas["replicas"]}
        answer = await call(session, "ask_replica", question="what is virtue", replica_id=SOCRATES_UUID)
        assert answer["answer"].startswith("Socrates asks")

        failed = await session.call_tool("delete_task", {"task_id": "00000000-0000-4000-8000-000000000000"})
        assert failed.is_error and msgspec.json.decode(failed.content[0].text)["code"] == "not_found"
        invalid = await session.call_tool("add_task", {"description": ""})
        assert invalid.is_error

    assert [t["status"] for t in (await http.get("/api/tasks", headers=bearer(alice))).json()["tasks"]] == ["completed"]
    assert (await http.get("/api/tasks", headers=bearer(bob))).json()["tasks"] == []
    chat = await http.get("/api/conversations", params={"replica_id": SOCRATES_UUID}, headers=bearer(alice))
    assert [m["sender"] for m in chat.json()["messages"]] == ["replica", "user"]


async def test_no_token_no_tools(server: str, http: httpx.AsyncClient) -> None:
    """Without a bearer token (or with a bad one) /mcp answers 401 with a problem document."""
    client = {"name": "t", "version": "1"}
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await http.post("/mcp", json=initialize, headers={**accept, **headers})
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"


async def test_the_openapi_document_describes_mcp_as_it_answers(http: httpx.AsyncClient, alice: dict) -> None:
    """/mcp is in /openapi.json, and each answer it documents is the one the route gives, body schema included;
    NUL is refused before the SDK reads the message, as on every route."""
    document = (await http.get("/openapi.json")).json()
    item = document["paths"]["/mcp"]
    assert {"post", "get", "delete"} <= set(item) and "mcp" in {tag["name"] for tag in document["tags"]}
    both = {"Accept": "application/json, text/event-stream"}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE_PARAMS}
    answers = [
        ("post", await http.post("/mcp", json=initialize, headers={**both, **bearer(alice)})),
        ("post", await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                                 headers={**both, **bearer(alice)})),
        ("post", await http.post("/mcp", content=b"{", headers={**both, **bearer(alice), "Content-Type": JSON})),
        ("post", await http.post("/mcp", json=initialize, headers={"Accept": "text/plain", **bearer(alice)})),
        ("post", await http.post("/mcp", json=initialize, headers=both)),
        ("post", await http.post("/mcp", json={**initialize, "params": {**INITIALIZE_PARAMS, "x": "a\u0000b"}},
                                 headers={**both, **bearer(alice)})),
        ("get", await http.get("/mcp", headers={"Accept": JSON, **bearer(alice)})),
        ("delete", await http.delete("/mcp", headers={**both, **bearer(alice)})),
    ]  # fmt: skip
    assert [answer.status_code for _, answer in answers] == [200, 202, 400, 406, 401, 422, 406, 405]
    for method, answer in answers:
        declared = item[method]["responses"][str(answer.status_code)]
        media_type = answer.headers.get("content-type", "").split(";")[0]
        if "content" not in declared:
            assert not answer.content
            continue
        assert media_type in declared["content"], (method, answer.status_code, media_type)
        if media_type.endswith("json"):
            schema = {**declared["content"][media_type]["schema"], "components": document["components"]}
            Draft202012Validator(schema).validate(answer.json())
