"""The TypeScript client against a real hub: each test runs one file of ``protocol/typescript/test`` in Node."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import asyncpg
import httpx

from server.sensay.local import LocalReplica
from server.store import conversations

from ..utils import signup_and_login
from .node import node_test

GAP = 600
"""Messages seeded for the gap test: more than the server replays on ``resume`` (500)."""


async def test_pure_parts(node_tests: Path) -> None:
    """The sequencer, reconnect delays and token expiry behave as documented (no server)."""
    await node_test("unit")


async def test_chat_rooms_and_changes(server: str, node_tests: Path) -> None:
    """Chat round trip, two clients of one user in sync, errors per send, a room of two replicas, live tasks."""
    await node_test("chat", HUB_URL=server)


async def test_reconnect_and_resume(server: str, replica: LocalReplica, node_tests: Path) -> None:
    """A socket killed during a streamed reply resumes with nothing lost or doubled; unacked sends are re-sent."""
    replica.word_delay = 0.05
    await node_test("resume", HUB_URL=server)


async def test_gap_fetched_over_rest(
    server: str, http: httpx.AsyncClient, pool: asyncpg.Pool, node_tests: Path
) -> None:
    """A gap too long to replay (``resume_unavailable``) is fetched over REST and delivered once, in order."""
    login = await signup_and_login(http, "gap@example.com")
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    replica_id = (await http.get("/api/replicas", headers=headers)).json()["default_replica_id"]
    user_id = UUID(login["user"]["id"])
    for n in range(GAP // 2):  # answered exchanges: an unanswered message would get its reply from the sweeper
        message, _ = await conversations.append_user_message(pool, user_id, replica_id, f"seeded {n}", None)
        await conversations.append_reply(pool, user_id, replica_id, message.id, f"seeded answer {n}")
    await node_test("gap", HUB_URL=server, SEED_EMAIL="gap@example.com", SEED_REPLICA=replica_id, SEED_COUNT=str(GAP))
