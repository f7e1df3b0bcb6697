"""A room's failed turns: the error carries the `room.send` frame's id, and the same frame sent again re-runs
the failed turns, reusing the turns already stored (Sensay is not asked for them again)."""

from __future__ import annotations

import asyncio
import dataclasses
from uuid import UUID

import asyncpg
import httpx

from server.app import create_app
from server.config import Settings
from server.replies import ReplyJob, RoomAudience, leases
from server.replies.pipeline import HANDOVER_SECONDS
from server.rooms.conductor import RUN_KIND
from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, LocalReplica
from server.store import rooms

from ..conftest import bearer
from ..rooms.test_rooms import join_all, make_room, speakers, until_turns_end
from ..utils import connect, run_server


async def test_resending_a_failed_room_send_reruns_only_the_failed_turns(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """Ada answers, Socrates fails: the error has the frame's id; the resend asks Socrates and the Guide only."""
    room = await make_room(http, alice, [], mode="round_robin", settings={"max_turns": 3})
    async with connect(server, alice["access_token"]) as tab:
        await join_all(room, tab)
        frame = {"type": "room.send", "id": "rs-1", "room_id": room["id"], "content": "hello everyone"}
        await tab.send(frame)
        await tab.recv_until("reply.delta")  # Ada's turn is under way: the next request (Socrates's) fails
        replica.fail_next(100, status=500)
        ended, frames = await until_turns_end(tab)
        errors = [f for f in frames if f["type"] == "error"]
        assert ended["state"] == "stopped" and speakers(frames) == [ADA_LOVELACE_UUID]
        assert [(e["id"], e["code"], e["retryable"]) for e in errors] == [("rs-1", "replica_unavailable", True)]

        replica.clear_faults()
        replica.reset_counters()
        await tab.send(frame)
        ack, _ = await tab.recv_until("ack")
        assert ack["duplicate"] is True
        ended, frames = await until_turns_end(tab)
    assert ended["state"] == "idle"
    assert speakers(frames) == [ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID]
    assert replica.chat_requests == 2


async def test_resending_a_room_send_whose_run_succeeded_runs_nothing(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """Only a failed run is re-run: a duplicate of a finished one is just acked again."""
    room = await make_room(http, alice, [], replica_ids=[ADA_LOVELACE_UUID])
    async with connect(server, alice["access_token"]) as tab:
        await join_all(room, tab)
        frame = {"type": "room.send", "id": "ok-1", "room_id": room["id"], "content": "hello"}
        await tab.send(frame)
        await until_turns_end(tab)
        calls = replica.chat_requests
        await tab.send(frame)
        ack, _ = await tab.recv_until("ack")
        assert ack["duplicate"] is True
        assert [f for f in await tab.nothing_within(0.5) if f["type"] == "room.turns"] == []
    assert replica.chat_requests == calls


async def test_a_run_whose_process_died_is_taken_up_by_another(
    server: str, http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool, replica: LocalReplica
) -> None:
    """A run held by a dead process (Ada had answered) is carried on by a live one: only Socrates and the Guide
    are asked, and the room hears the run again with no member action, Ada's stored turn included (the dead
    process may have stored it without showing it)."""
    room = await make_room(http, alice, [], mode="round_robin", settings={"max_turns": 3})
    room_id = UUID(room["id"])
    me = UUID((await http.get("/api/auth/me", headers=bearer(alice))).json()["user"]["id"])
    trigger, _ = await rooms.append_message(
        pool, room_id, sender="user", content="hello everyone", user_id=me, client_id="dead-1"
    )
    await rooms.append_message(
        pool, room_id, sender="replica", content="Ada spoke.", replica_id=ADA_LOVELACE_UUID, reply_to=trigger.id
    )
    job = ReplyJob(
        kind=RUN_KIND,
        asker="room",
        replica_id="",
        prompt=trigger.message,
        audience=RoomAudience(room_id),
        reply_to=str(trigger.id),
        client_id="dead-1",
    )
    async with connect(server, alice["access_token"]) as tab:
        await join_all(room, tab)
        await leases.submit(pool, job, 0.01)
        assert await leases.claim(pool, RUN_KIND, str(trigger.id), "a-process-that-died", 0.01) is not None
        ended, frames = await until_turns_end(tab, timeout=15)
    assert ended["state"] == "idle"
    assert speakers(frames) == [ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID]
    assert replica.chat_requests == 2


LEASE = 20.0
"""Renewed every 1/4 of it for 3/4 of it: at least 10 s left at any moment, beyond the 6 s the request takes."""


async def test_a_stopping_process_leaves_a_room_turn_in_doubt_to_its_lease(
    server: str, settings: Settings, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """A deploy stops a process while its room turn's request is on its way to Sensay, which takes the message in
    only after the stop gave up waiting for it: the run is not handed back at once (the process carrying on would
    find no trace in Sensay's history and ask again) but left to its lease, so the successor finds the turn in
    Sensay's history. Each replica is asked once, the room sees every turn once and no error."""
    room = await make_room(http, alice, [], mode="round_robin", settings={"max_turns": 3})
    # No read timeout while Sensay takes the request in (the client would ask again).
    stopping = dataclasses.replace(settings, reply_lease_seconds=LEASE, sensay_timeout=15.0, shutdown_drain_seconds=0.0)
    async with connect(server, alice["access_token"]) as tab:
        await join_all(room, tab)
        async with run_server(create_app(stopping, replica=replica)) as doomed_url:
            async with connect(doomed_url, alice["access_token"]) as doomed:
                await join_all(room, doomed)
                # Taken in (with its answer) after the stop gave up waiting (HANDOVER_SECONDS after the cancel, which
                # comes a moment after this), and after this process and its own server of the replica are gone;
                # before the lease (at least LEASE / 2 left) runs out.
                replica.slow_next(3 * HANDOVER_SECONDS)
                frame = {"type": "room.send", "id": "deploy-room-1", "room_id": room["id"], "content": "hello all"}
                await doomed.send(frame)
                await doomed.recv_until("ack")
                async with asyncio.timeout(10):
                    while replica.chat_requests < 1:  # Ada's request is on its way
                        await asyncio.sleep(0.01)
        # The process stopped (its drain is 0 s); the one left carries the run on once the lease ran out.
        ended, frames = await until_turns_end(tab, timeout=5 * LEASE)
    assert [f for f in frames if f["type"] == "error"] == []
    assert ended["state"] == "idle"
    assert speakers(frames) == [ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID]
    assert sorted(n for (_, _, said), n in replica.chats.items()) == [1, 1, 1], replica.chats
