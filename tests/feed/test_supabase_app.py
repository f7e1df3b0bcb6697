"""The whole app on a Supabase-like project (GoTrue and Realtime peers at one URL): a row written with
plain SQL reaches its owner's sockets through Supabase Realtime, and nobody else's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica

from ..auth.gotrue_peer import GoTruePeer
from ..utils import connect, run_server, signup_and_login
from .phoenix_peer import PhoenixPeer


@pytest.fixture
async def project(database_url: str) -> AsyncIterator[tuple[str, GoTruePeer]]:
    """One base URL serving Supabase Auth (HTTP) and Supabase Realtime (WebSocket)."""
    gotrue = GoTruePeer()
    async with PhoenixPeer(database_url) as realtime:

        async def both(scope: Scope, receive: Receive, send: Send) -> None:
            await (realtime if scope["type"] == "websocket" else gotrue.app)(scope, receive, send)

        async with run_server(both) as url:
            yield url, gotrue


async def test_sql_changes_reach_the_owner_through_supabase_realtime(
    project: tuple[str, GoTruePeer], settings: Settings, replica: LocalReplica, database_url: str
) -> None:
    url, gotrue = project
    configured = replace(
        settings,
        supabase_url=url,
        supabase_anon_key=Secret(gotrue.anon_key),
        supabase_service_role_key=Secret("service-role-key"),
    )
    async with run_server(create_app(configured, replica=replica)) as app_url:
        async with httpx.AsyncClient(base_url=app_url) as http:
            alice = await signup_and_login(http, "alice@example.com")
            bob = await signup_and_login(http, "bob@example.com")
        async with connect(app_url, alice["access_token"]) as tab, connect(app_url, bob["access_token"]) as other:
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute(
                    "INSERT INTO tasks (user_id, description) VALUES ($1, 'via realtime')", alice["user"]["id"]
                )
            finally:
                await conn.close()
            change, _ = await tab.recv_until("change", timeout=10)
            assert change["table"] == "tasks" and change["record"]["description"] == "via realtime"
            assert change["commit_timestamp"]
            assert await other.nothing_within(0.3) == []
