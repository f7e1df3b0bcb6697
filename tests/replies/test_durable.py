"""A reply is a row claimed with a lease: one Sensay call per reply across processes, a dead process's replies
taken up with no user action, failures stored, and a `reply.started` frame when a replica starts."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.context.conversation import ORPHAN_TRIES
from server.replies import ReplyJob, UserAudience, faults
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica
from server.store import conversations, replies

from ..conftest import bearer
from ..utils import WsClient, connect, run_server

ADA = f"chat:{ADA_LOVELACE_UUID}"
LEASE = 1.0
# Bounds on waits for a sweeper's takeover (about one lease on a quiet machine): generous, since a loaded machine
# (load 15 on 2 cores) took more than 5 leases at times; only a takeover that never happens fails on them.
TAKEOVER = 30.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, reply_lease_seconds=LEASE)


async def user_id(http: httpx.AsyncClient, login: dict) -> UUID:
    response = await http.get("/api/auth/me", headers=bearer(login))
    assert response.status_code == 200
    return UUID(response.json()["user"]["id"])


async def frames_until_reply(tab: WsClient, timeout: float = 15) -> list[dict]:
    frames: list[dict] = []
    while True:
        frame = await tab.recv(timeout=timeout)
        frames.append(frame)
        if frame["type"] == "message" and frame["message"]["sender"] == "replica":
            return frames


async def reply_row(pool: asyncpg.Pool, reply_to: str) -> asyncpg.Record:
    """The reply's row once it has settled (the row is marked a moment after the reply is shown)."""
    async with asyncio.timeout(TAKEOVER):
        while True:
            row = await pool.fetchrow("SELECT * FROM replies WHERE kind = 'chat' AND reply_to = $1", reply_to)
            assert row is not None
            if row["state"] in ("done", "failed"):
                return row
            await asyncio.sleep(0.05)


async def test_reply_started_comes_first_and_the_row_ends_done(
    server: str, alice: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """`reply.started` precedes the deltas; the reply's row is done after one claim, with one Sensay call."""
    frame = {"type": "chat.send", "id": "s-1", "replica_id": ADA_LOVELACE_UUID, "content": "tell me of engines"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        frames = await frames_until_reply(tab)
    kinds = [f["type"] for f in frames]
    started = frames[kinds.index("reply.started")]
    assert kinds.index("reply.started") < kinds.index("reply.delta")
    assert started.get("restart", False) is False and started["stream"] == ADA
    row = await reply_row(pool, started["reply_to"])
    assert (row["state"], row["attempts"]) == ("done", 1)
    assert replica.chat_requests == 1


async def test_a_failed_reply_is_stored_as_failed_and_a_resend_reruns_it(
    server: str, alice: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """The row keeps the failure's code and `retryable`; the same id sent again makes it run and end done."""
    replica.fail_next(100, status=500)
    frame = {"type": "chat.send", "id": "f-1", "replica_id": ADA_LOVELACE_UUID, "content": "fail first"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        ack = await tab.recv()
        error, _ = await tab.recv_until("error", timeout=15)
        assert error["id"] == "f-1"
        row = await reply_row(pool, ack["message_id"])
        assert (row["state"], row["code"], row["retryable"]) == ("failed", "replica_unavailable", True)
        replica.clear_faults()
        await tab.send(frame)
        await frames_until_reply(tab)
    row = await reply_row(pool, ack["message_id"])
    assert (row["state"], row["attempts"]) == ("done", 2)


@pytest.fixture
async def second_server(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    """A second process of the same deployment: same database, same Sensay."""
    async with run_server(create_app(settings, replica=replica)) as url:
        yield url


async def test_the_same_id_sent_to_two_processes_at_once_calls_sensay_once(
    server: str, second_server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """Both processes ack the message, one claims the reply: Sensay is asked once and one reply is stored."""
    replica.word_delay = 0.02
    frame = {"type": "chat.send", "id": "twice", "replica_id": ADA_LOVELACE_UUID, "content": "one answer please"}
    async with connect(server, alice["access_token"]) as one, connect(second_server, alice["access_token"]) as two:
        await asyncio.gather(one.send(frame), two.send(frame))
        acks = [await one.recv_until("ack"), await two.recv_until("ack")]
        assert acks[0][0]["message_id"] == acks[1][0]["message_id"]
        # The process that claimed the reply shows it (their broker is per process here).
        waits = [asyncio.create_task(frames_until_reply(tab)) for tab in (one, two)]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert [f["type"] for f in done.pop().result()].count("reply.started") == 1
    async with httpx.AsyncClient(base_url=second_server) as other:
        response = await other.post(
            "/api/conversations",
            json={"replica_id": ADA_LOVELACE_UUID, "content": "one answer please", "client_id": "twice"},
            headers=bearer(alice),
        )
    assert response.status_code == 200 and response.json()["duplicate"] is True
    assert sum(n for (_, _, content), n in replica.chats.items() if content == "one answer please") == 1
    stored = await http.get("/api/conversations", params={"replica_id": ADA_LOVELACE_UUID}, headers=bearer(alice))
    assert [m["sender"] for m in stored.json()["messages"]] == ["replica", "user"]


async def orphan(pool: asyncpg.Pool, owner: UUID, content: str, *, asked: bool) -> str:
    """A message whose reply a process claimed and then died with (its lease runs out at once)."""
    message, _ = await conversations.append_user_message(pool, owner, ADA_LOVELACE_UUID, content, f"o-{uuid.uuid4()}")
    job = ReplyJob(
        kind="chat",
        asker=str(owner),
        replica_id=ADA_LOVELACE_UUID,
        prompt=content,
        audience=UserAudience(owner),
        stream=ADA,
        reply_to=str(message.id),
        client_id=message.client_id,
    )
    # Recorded and claimed in one statement, with a lease no sweeper takes from it meanwhile (recorded pending with a
    # 0.01 s lease, the server's sweeper claimed it before this could, at times); then the process dies.
    assert await replies.take(pool, ReplyJob, job, "a-process-that-died", 60.0, asking=asked) is not None
    await pool.execute("UPDATE replies SET lease_until = now() WHERE kind = 'chat' AND reply_to = $1", job.reply_to)
    return str(message.id)


async def test_a_dead_process_reply_is_taken_up_without_user_action(
    server: str, http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """Within the lease, another process claims the orphaned reply, tells the user to restart, and answers."""
    owner = await user_id(http, alice)
    async with connect(server, alice["access_token"]) as tab:
        reply_to = await orphan(pool, owner, "who will answer me", asked=False)
        frames = await frames_until_reply(tab, timeout=TAKEOVER)
    started = next(f for f in frames if f["type"] == "reply.started")
    assert started["restart"] is True and started["reply_to"] == reply_to
    assert frames[-1]["message"]["reply_to"] == reply_to
    row = await reply_row(pool, reply_to)
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert replica.chat_requests == 1


async def test_a_successor_takes_the_answer_from_sensay_history_instead_of_asking_again(
    server: str, http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """The dead process had asked Sensay, which answered: its successor finds the answer and asks nobody."""
    owner = await user_id(http, alice)
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "chat.send", "id": "warm", "replica_id": ADA_LOVELACE_UUID, "content": "warm up"})
        await frames_until_reply(tab)  # the user now exists at Sensay
        # What the dying process did: ask Sensay (which answered in full and kept it in the history).
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://sensay") as sensay:
            answered = await sensay.post(
                f"/v1/replicas/{ADA_LOVELACE_UUID}/chat/completions",
                json={"content": "remember this"},
                headers={"X-ORGANIZATION-SECRET": replica.organization_secret, "X-USER-ID": str(owner)},
            )
        assert answered.status_code == 200
        calls_before = replica.chat_requests
        reply_to = await orphan(pool, owner, "remember this", asked=True)
        frames = await frames_until_reply(tab, timeout=TAKEOVER)
    assert frames[-1]["message"]["reply_to"] == reply_to
    assert frames[-1]["message"]["content"] == answered.json()["content"]
    assert replica.chat_requests == calls_before
    assert replica.said_to(str(owner), ADA_LOVELACE_UUID) == ["warm up", "remember this"]


def asked(replica: LocalReplica, content: str) -> int:
    """Chat requests the replica received with ``content``."""
    return sum(n for (_, _, said), n in replica.chats.items() if said == content)


async def test_a_stopping_process_hands_a_reply_over_once_sensay_took_its_request_in(
    server: str, settings: Settings, alice: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """A deploy stops a process while its request for a reply is on its way to Sensay (which takes the message in a
    moment later): the process waits for Sensay's answer before handing the reply over, so the process that carries
    on finds the message in Sensay's history and waits for its answer. Sensay is asked once, the user sees one reply."""
    content = "asked while the process stops"
    frame = {"type": "chat.send", "id": "deploy-1", "replica_id": ADA_LOVELACE_UUID, "content": content}
    stopping = dataclasses.replace(settings, shutdown_drain_seconds=0.0)
    async with connect(server, alice["access_token"]) as tab:
        async with run_server(create_app(stopping, replica=replica)) as doomed_url:
            async with connect(doomed_url, alice["access_token"]) as doomed:
                replica.slow_next(1.0)
                await doomed.send(frame)
                ack, _ = await doomed.recv_until("ack")
                async with asyncio.timeout(10):
                    while not asked(replica, content):  # on its way: Sensay takes it in 1 s after it arrived
                        await asyncio.sleep(0.01)
        # The process stopped (its drain is 0 s); the one left carries on.
        frames = await frames_until_reply(tab, timeout=TAKEOVER)
    reply = frames[-1]["message"]
    assert reply["reply_to"] == ack["message_id"]
    assert asked(replica, content) == 1
    row = await reply_row(pool, ack["message_id"])
    assert (row["state"], row["attempts"]) == ("done", 2)


async def test_an_orphan_whose_job_cannot_be_made_is_settled_as_failed_after_a_few_sweeps(
    server: str,
    http: httpx.AsyncClient,
    alice: dict,
    pool: asyncpg.Pool,
    replica: LocalReplica,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An acked message with no reply row whose reply job can never be made (test-only fault hook) is not tried
    every sweep for 7 days: after ORPHAN_TRIES sweeps its reply is a `failed` row, the user's sockets get the error
    frame with the message's client id, and the log one WARNING; sending the same id again runs it."""
    monkeypatch.setenv(faults.VARIABLE, faults.ORPHAN_JOB_FAILS)
    owner = await user_id(http, alice)
    message, _ = await conversations.append_user_message(pool, owner, ADA_LOVELACE_UUID, "never answered", "orph-1")
    async with connect(server, alice["access_token"]) as tab:
        error, _ = await tab.recv_until("error", timeout=TAKEOVER + ORPHAN_TRIES * LEASE)
        row = await reply_row(pool, str(message.id))
        monkeypatch.delenv(faults.VARIABLE)
        frame = {"type": "chat.send", "id": "orph-1", "replica_id": ADA_LOVELACE_UUID, "content": "never answered"}
        await tab.send(frame)
        frames = await frames_until_reply(tab, timeout=TAKEOVER)
    assert (error["id"], error["stream"], error["code"]) == ("orph-1", ADA, row["code"])
    assert row["state"] == "failed" and row["code"] == "internal_error"
    assert frames[-1]["message"]["reply_to"] == str(message.id)
    settled = [r for r in caplog.records if "settled as failed" in r.getMessage()]
    assert [r.levelname for r in settled] == ["WARNING"]
    assert replica.chat_requests == 1
