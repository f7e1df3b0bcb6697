"""supabase-py's async Realtime client (realtime-py 2.34, vsn 1.0.0) against a real hub.

(The sync supabase-py client has no Realtime: realtime-py is async only.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from realtime import RealtimeSubscribeStates
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..auth.gotrue_support import ANON_KEY, PASSWORD, gotrue_settings
from ..utils import run_server, signup_and_login

WAIT = 10.0


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


@pytest.fixture
async def clients(hub: str) -> AsyncIterator[Callable[[str | None], Awaitable[AsyncClient]]]:
    """Makes supabase-py clients, signed in as ``email`` (or anon); closes them afterwards."""
    made: list[tuple[AsyncClient, httpx.AsyncClient]] = []
    async with httpx.AsyncClient(base_url=hub, timeout=10) as http:
        for email in ("alice@example.com", "bob@example.com"):
            await signup_and_login(http, email, PASSWORD)

    async def make(email: str | None) -> AsyncClient:
        http = httpx.AsyncClient(timeout=20)
        options = AsyncClientOptions(auto_refresh_token=False, persist_session=False, httpx_client=http)
        client = await acreate_client(hub, ANON_KEY, options)
        made.append((client, http))
        if email is not None:
            session = (await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})).session
            assert session is not None
            await client.realtime.set_auth(session.access_token)
        return client

    yield make
    for client, http in made:
        await client.remove_all_channels()
        await client.realtime.close()
        await http.aclose()


async def _subscribed(channel: Any) -> None:
    states: list[RealtimeSubscribeStates] = []
    await asyncio.wait_for(channel.subscribe(lambda state, _error: states.append(state)), WAIT)
    assert states[-1] == RealtimeSubscribeStates.SUBSCRIBED, states


async def _next(queue: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(queue.get(), WAIT)


async def test_postgres_changes_broadcast_and_presence(
    hub: str, clients: Callable[[str | None], Awaitable[AsyncClient]]
) -> None:
    """Alice hears her own task changes, bob and anon none of them; broadcast and presence work between them."""
    alice, bob, anon = await clients("alice@example.com"), await clients("bob@example.com"), await clients(None)
    alice_user = (await alice.auth.get_user()).user  # type: ignore[union-attr]
    heard: dict[str, asyncio.Queue[Any]] = {name: asyncio.Queue() for name in ("alice", "bob", "anon")}
    for name, client in (("alice", alice), ("bob", bob), ("anon", anon)):
        channel = client.channel(f"{name}-tasks").on_postgres_changes(
            "*", heard[name].put_nowait, table="tasks", schema="public"
        )
        await _subscribed(channel)

    token = (await alice.auth.get_session()).access_token  # type: ignore[union-attr]
    async with httpx.AsyncClient(base_url=hub, headers={"Authorization": f"Bearer {token}"}) as http:
        created = (await http.post("/api/tasks", json={"description": "from python"})).json()
        insert = await _next(heard["alice"])
        assert insert["data"]["type"] == "INSERT" and insert["data"]["record"]["user_id"] == alice_user.id
        await http.delete(f"/api/tasks/{created['id']}")
    delete = await _next(heard["alice"])
    assert delete["data"]["type"] == "DELETE" and delete["data"]["old_record"] == {"id": created["id"]}

    room: dict[str, Any] = {}
    broadcasts: asyncio.Queue[Any] = asyncio.Queue()
    synced: asyncio.Queue[list[str]] = asyncio.Queue()
    for name, client in (("alice", alice), ("bob", bob)):
        channel = client.channel("room", {"config": {"broadcast": {"self": False}, "presence": {"key": name}}})
        if name == "bob":
            channel.on_broadcast("hello", broadcasts.put_nowait)
            channel.on_presence_sync(lambda channel=channel: synced.put_nowait(sorted(channel.presence_state())))
        await _subscribed(channel)
        room[name] = channel
    await room["alice"].track({"online": True})
    async with asyncio.timeout(WAIT):
        while await synced.get() != ["alice"]:
            pass
    await room["alice"].send_broadcast("hello", {"n": 1})
    assert (await _next(broadcasts))["payload"] == {"n": 1}

    assert heard["bob"].empty() and heard["anon"].empty()
