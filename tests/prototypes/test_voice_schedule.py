"""Pure Voice, outbound and expiry: scheduled calls are placed by the durable scheduler (also across a restart),
the replica opens them; calls end after VOICE_CALL_MAX_SECONDS of talk, and downtime is not talk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect, run_server, signup_and_login
from .support import act, collect_events, ok, problem, state

ID = "pure-voice"


async def _call_of(http: httpx.AsyncClient, login: dict, call_id: str) -> dict[str, Any]:
    [call] = [c for c in (await state(http, login, ID))["calls"] if c["id"] == call_id]
    return call


async def _until(
    http: httpx.AsyncClient, login: dict, call_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The call once ``done`` holds for it (polled; the test's timeout bounds the wait)."""
    while not done(call := await _call_of(http, login, call_id)):
        await asyncio.sleep(0.1)
    return call


async def _records(http: httpx.AsyncClient, login: dict, kind: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/prototype/{ID}", params={"limit": 200}, headers=bearer(login))
    return [r["details"] for r in response.json()["interactions"] if r["interaction_type"] == kind]


async def test_a_scheduled_call_is_placed_when_due_and_opened_by_the_replica(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """ "in 1 second": the call waits as `scheduled`, then `call_placed` (through the provider: its call is
    answered), the replica's opening line streams and is the transcript's first line; the user talks on."""
    async with connect(server, alice["access_token"]) as tab:
        scheduled = await ok(
            http, alice, ID, "schedule_call", replica_id=ADA_LOVELACE_UUID, at="in 1 second", purpose="the dentist"
        )
        call = scheduled["call"]
        assert (call["direction"], call["status"], call["purpose"]) == ("outbound", "scheduled", "the dentist")
        assert call["peer_number"] == (await state(http, alice, ID))["number"] and call["started_at"] is None

        [placed] = await collect_events(tab, ID, "call_placed", lambda d: True)
        assert placed["call_id"] == call["id"] and placed["purpose"] == "the dentist"
        lines = await collect_events(tab, ID, "transcript", lambda d: d["speaker"] == "replica" and d["final"])
        opening = lines[-1]["text"]
        assert lines[-1]["call_id"] == call["id"] and "the dentist" in opening

    provider = (await http.get(f"/api/mock/telephony/calls/{placed['sid']}", headers=bearer(alice))).json()["call"]
    assert provider["status"] == "answered" and provider["voice_call_id"] == call["id"]
    said = await ok(http, alice, ID, "say", call_id=call["id"], text="yes, book it")
    transcript = (await http.get(f"/api/voice/calls/{call['id']}/transcript", headers=bearer(alice))).json()
    assert [(line["speaker"], line["text"], line["answers"]) for line in transcript["lines"]] == [
        ("replica", opening, 0),
        ("user", "yes, book it", None),
        ("replica", said["reply"], 2),
    ]
    assert transcript["call"]["status"] == "active" and transcript["call"]["started_at"] is not None


async def test_schedule_times_are_parsed_like_task_due_times(http: httpx.AsyncClient, alice: dict) -> None:
    """Words are read in TASK_TIMEZONE ("tomorrow at 5pm"); RFC 3339 needs an offset and a future time; a text
    with no time is 422; stopping a scheduled call cancels it (never placed, no talk time)."""
    call = (await ok(http, alice, ID, "schedule_call", replica_id=ADA_LOVELACE_UUID, at="tomorrow at 5pm"))["call"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert datetime.fromisoformat(call["scheduled_for"]) == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 17, tzinfo=UTC
    )
    for at in ("whenever suits", "2020-01-01T10:00:00+00:00", "2040-01-01T10:00:00"):
        problem(
            await act(http, alice, ID, "schedule_call", replica_id=ADA_LOVELACE_UUID, at=at), 422, "validation_error"
        )
    unknown = "00000000-0000-4000-8000-000000000000"
    problem(await act(http, alice, ID, "schedule_call", replica_id=unknown, at="in 1 hour"), 404, "replica_not_found")

    canceled = (await ok(http, alice, ID, "stop_call", call_id=call["id"]))["call"]
    assert (canceled["status"], canceled["end_reason"], canceled["duration_seconds"]) == ("ended", "canceled", 0)
    problem(await act(http, alice, ID, "stop_call", call_id=call["id"]), 409, "call_ended")


async def test_a_call_due_while_the_server_was_down_is_placed_once_after_the_restart(
    settings: Settings, replica: LocalReplica
) -> None:
    """Scheduled, then the server stops before it is due; the next start places it (recorded once), and a second
    start does not place it again."""
    fast = replace(settings, scheduler_interval=0.1)
    async with run_server(create_app(fast, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        login = await signup_and_login(http, "caller@example.com")
        due = datetime.now(UTC) + timedelta(seconds=1)
        call = (await ok(http, login, ID, "schedule_call", replica_id=ADA_LOVELACE_UUID, at=due.isoformat()))["call"]
    assert datetime.now(UTC) < due, "stopped before the call was due"
    await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 0.2)
    for _ in range(2):
        async with run_server(create_app(fast, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
            placed = await _until(http, login, call["id"], lambda c: c["status"] != "scheduled")
            assert placed["status"] == "active" and placed["provider_sid"]
            assert [r["call_id"] for r in await _records(http, login, "call_placed")] == [call["id"]]


async def test_a_call_expires_after_the_maximum_talk_time(settings: Settings, replica: LocalReplica) -> None:
    """VOICE_CALL_MAX_SECONDS=1: the sweep ends the call (`call_ended`, reason `expired`), its duration is its talk
    time, and saying more is 409."""
    short = replace(settings, scheduler_interval=0.1, voice_call_max_seconds=1.0)
    async with run_server(create_app(short, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        login = await signup_and_login(http, "short@example.com")
        async with connect(url, login["access_token"]) as tab:
            call = (await ok(http, login, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]
            [ended] = await collect_events(tab, ID, "call_ended", lambda d: True)
        assert ended["call_id"] == call["id"] and ended["reason"] == "expired" and ended["duration_seconds"] >= 1.0
        expired = await _call_of(http, login, call["id"])
        assert expired["end_reason"] == "expired" and expired["duration_seconds"] == ended["duration_seconds"]
        problem(await act(http, login, ID, "say", call_id=call["id"], text="hello?"), 409, "call_ended")


async def test_downtime_across_a_restart_is_not_counted_as_talk_time(settings: Settings, replica: LocalReplica) -> None:
    """A call open while the server is down for 3 s (longer than the call may last): after the restart it is
    still open, then expires after its talk time; the downtime is in its wall time, not in its duration."""
    downtime = 3.0
    short = replace(settings, scheduler_interval=0.1, voice_call_max_seconds=2.0)
    assert short.voice_count_grace < downtime
    async with run_server(create_app(short, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        login = await signup_and_login(http, "restarted@example.com")
        call = (await ok(http, login, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]
    await asyncio.sleep(downtime)
    async with run_server(create_app(short, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        ended = await _until(http, login, call["id"], lambda c: c["status"] == "ended")
    assert ended["end_reason"] == "expired" and ended["duration_seconds"] >= 2.0
    wall = (datetime.fromisoformat(ended["ended_at"]) - datetime.fromisoformat(ended["started_at"])).total_seconds()
    assert wall - ended["duration_seconds"] >= downtime


async def test_two_processes_place_each_scheduled_call_once(settings: Settings, replica: LocalReplica) -> None:
    """Two processes on one database sweep for due calls: each of five calls due at once is placed by one of them
    (one `call_placed` record and one provider call each)."""
    fast = replace(settings, scheduler_interval=0.05)
    async with (
        run_server(create_app(fast, replica=replica)) as a,
        run_server(create_app(fast, replica=replica)) as b,
        httpx.AsyncClient(base_url=a) as http,
    ):
        login = await signup_and_login(http, "busy@example.com")
        due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        ids = [
            (await ok(http, login, ID, "schedule_call", replica_id=ADA_LOVELACE_UUID, at=due))["call"]["id"]
            for _ in range(5)
        ]
        for call_id in ids:
            await _until(http, login, call_id, lambda c: c["status"] == "active")
        async with httpx.AsyncClient(base_url=b) as other:
            await asyncio.sleep(0.3)  # several more sweeps of both processes
            placed = await _records(other, login, "call_placed")
    assert sorted(r["call_id"] for r in placed) == sorted(ids)
