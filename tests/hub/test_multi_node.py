"""Two server processes sharing PostgreSQL and Redis act as one hub."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..broker.test_brokers import REDIS_URL, redis_answers
from ..conftest import bearer
from ..utils import connect, run_server, signup_and_login


async def test_tabs_on_different_nodes_see_the_same_conversation(settings: Settings, replica: LocalReplica) -> None:
    if not await redis_answers():
        pytest.fail("Redis must answer at 127.0.0.1:6379 (.ci/run starts it)")
    shared = replace(settings, redis_url=Secret(REDIS_URL))
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        run_server(create_app(shared, replica=replica)) as node_b,
    ):
        async with httpx.AsyncClient(base_url=node_a) as http:
            login = await signup_and_login(http, "multi@example.com")
            token = login["access_token"]
            async with connect(node_a, token) as tab_a, connect(node_b, token) as tab_b:
                await tab_a.send({"type": "chat.send", "id": "n1", "replica_id": ADA_LOVELACE_UUID, "content": "hi"})
                assert (await tab_a.recv())["type"] == "ack"
                seen_b = []
                while not seen_b or seen_b[-1].get("message", {}).get("sender") != "replica":
                    seen_b.append(await tab_b.recv())
                assert seen_b[0]["message"]["content"] == "hi"
                assert any(f["type"] == "reply.delta" for f in seen_b)

                # Logging out through node A closes the session's socket on node B.
                assert (await http.post("/api/auth/logout", headers=bearer(login))).status_code == 204
                assert await tab_b.close_code() == 4003
            # Node B verified this session a moment ago and remembers it live; the logout reached it on the broker.
            async with connect(node_b) as again:
                await again.send({"type": "auth", "token": token})
                assert await again.close_code() == 4001
