"""Pure Voice, inbound: a call through the mock telephony provider is answered by the replica once the caller gives
the owner's PIN; its transcript is kept; the provider's hang-up ends it."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import bearer
from ..utils import WsClient, connect
from .support import act, collect_events, ok, problem, state

ID = "pure-voice"
CALLS = "/api/mock/telephony/calls"
CALLER = "+14155550123"


async def _ring_in(http: httpx.AsyncClient, login: dict, replica_id: str = ADA_LOVELACE_UUID) -> dict[str, Any]:
    """A call to the user's number, placed with the provider for the replica, rung and answered."""
    number = (await state(http, login, ID))["number"]
    placed = await http.post(
        CALLS, json={"to": number, "from": CALLER, "replica_id": replica_id}, headers=bearer(login)
    )
    assert placed.status_code == 201, placed.text
    sid = placed.json()["call"]["sid"]
    for status in ("ringing", "answered"):
        moved = await http.post(f"{CALLS}/{sid}/events", json={"status": status}, headers=bearer(login))
        assert moved.status_code == 200, moved.text
    call = moved.json()["call"]
    assert call["status"] == "answered" and call["voice_call_id"]
    return call


async def _event(tab: WsClient, event: str) -> dict[str, Any]:
    return (await collect_events(tab, ID, event, lambda d: True))[-1]


async def test_an_inbound_call_is_answered_by_the_replica_after_the_pin(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """Ring in → `incoming_call`, the replica waits for the PIN (409 before it), a wrong PIN is 403 with the
    attempts left, the right one opens the line; the replica answers in a streamed transcript that is stored; the
    provider's hang-up ends the call (`call_ended`, reason `provider`)."""
    await ok(http, alice, ID, "set_pin", pin="4321")
    async with connect(server, alice["access_token"]) as tab:
        provider_call = await _ring_in(http, alice)
        call_id = provider_call["voice_call_id"]
        incoming = await _event(tab, "incoming_call")
        assert incoming == {
            "call_id": call_id,
            "sid": provider_call["sid"],
            "from": CALLER,
            "replica_id": ADA_LOVELACE_UUID,
            "verified_caller": False,
        }
        [call] = [c for c in (await state(http, alice, ID))["calls"] if c["id"] == call_id]
        assert (call["direction"], call["status"], call["peer_number"]) == ("inbound", "awaiting_pin", CALLER)

        problem(await act(http, alice, ID, "say", call_id=call_id, text="hello?"), 409, "pin_required")
        wrong = problem(await act(http, alice, ID, "enter_pin", call_id=call_id, pin="1111"), 403, "wrong_pin")
        assert "2 attempts left" in wrong["detail"]
        opened = (await ok(http, alice, ID, "enter_pin", call_id=call_id, pin="4321"))["call"]
        assert opened["status"] == "active"

        said = await ok(http, alice, ID, "say", call_id=call_id, text="is my order ready")
        assert 'You wrote: "is my order ready"' in said["reply"]
        lines = await collect_events(tab, ID, "transcript", lambda d: d["speaker"] == "replica" and d["final"])
        assert lines[0]["text"] == "is my order ready" and lines[-1]["text"] == said["reply"]

        hung_up = await http.post(
            f"{CALLS}/{provider_call['sid']}/events", json={"status": "completed"}, headers=bearer(alice)
        )
        assert hung_up.status_code == 200, hung_up.text
        ended = await _event(tab, "call_ended")
        assert ended["call_id"] == call_id and ended["reason"] == "provider" and ended["duration_seconds"] >= 0

    transcript = (await http.get(f"/api/voice/calls/{call_id}/transcript", headers=bearer(alice))).json()
    assert transcript["call"]["status"] == "ended" and transcript["call"]["end_reason"] == "provider"
    assert [(line["speaker"], line["text"]) for line in transcript["lines"]] == [
        ("user", "is my order ready"),
        ("replica", said["reply"]),
    ]
    problem(await act(http, alice, ID, "say", call_id=call_id, text="still there?"), 409, "call_ended")


async def test_wrong_pins_end_the_call_after_the_allowed_attempts(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """Three wrong PINs: the third answers that no attempts are left and the call ends (`pin_failed`), and the
    provider's call is completed; the right PIN then no longer opens it."""
    await ok(http, alice, ID, "set_pin", pin="123456")
    async with connect(server, alice["access_token"]) as tab:
        provider_call = await _ring_in(http, alice)
        call_id = provider_call["voice_call_id"]
        details = []
        for _ in range(3):
            details.append(
                problem(await act(http, alice, ID, "enter_pin", call_id=call_id, pin="654321"), 403, "wrong_pin")[
                    "detail"
                ]
            )
        assert details == [
            "wrong PIN: 2 attempts left",
            "wrong PIN: 1 attempt left",
            "wrong PIN: no attempts left, the call has ended",
        ]
        ended = await _event(tab, "call_ended")
        assert ended["call_id"] == call_id and ended["reason"] == "pin_failed"
    problem(await act(http, alice, ID, "enter_pin", call_id=call_id, pin="123456"), 409, "call_ended")
    shown = (await http.get(f"{CALLS}/{provider_call['sid']}", headers=bearer(alice))).json()["call"]
    assert shown["status"] == "completed"


async def test_without_a_pin_no_inbound_caller_gets_through(http: httpx.AsyncClient, alice: dict) -> None:
    """A user who set no PIN: any PIN is refused, saying so (the replica never talks to an unchecked caller)."""
    call_id = (await _ring_in(http, alice))["voice_call_id"]
    refused = problem(await act(http, alice, ID, "enter_pin", call_id=call_id, pin="0000"), 403, "wrong_pin")
    assert refused["detail"].startswith("no PIN is set")
    problem(await act(http, alice, ID, "say", call_id=call_id, text="let me in"), 409, "pin_required")


async def test_the_pin_is_kept_as_an_argon2_hash_and_checked_per_user(
    http: httpx.AsyncClient, alice: dict, bob: dict, pool: asyncpg.Pool
) -> None:
    """The PIN is stored as an argon2id hash, never in clear; Bob's PIN does not open Alice's call, Bob cannot
    touch it; a PIN that is not 4-8 digits is 422, and so is a PIN for a call that no longer waits for one."""
    await ok(http, alice, ID, "set_pin", pin="2468")
    await ok(http, bob, ID, "set_pin", pin="1357")
    stored = await pool.fetchval("SELECT pin_hash FROM voice_pins WHERE user_id = $1", alice["user"]["id"])
    assert stored.startswith("$argon2id$") and "2468" not in stored
    assert (await state(http, alice, ID))["pin_set"] is True
    problem(await act(http, alice, ID, "set_pin", pin="12a4"), 422, "validation_error")

    call_id = (await _ring_in(http, alice))["voice_call_id"]
    problem(await act(http, alice, ID, "enter_pin", call_id=call_id, pin="1357"), 403, "wrong_pin")
    problem(await act(http, bob, ID, "enter_pin", call_id=call_id, pin="1357"), 404, "call_not_found")
    await ok(http, alice, ID, "enter_pin", call_id=call_id, pin="2468")
    again = problem(await act(http, alice, ID, "enter_pin", call_id=call_id, pin="2468"), 422, "validation_error")
    assert "does not wait for a PIN" in again["detail"]
