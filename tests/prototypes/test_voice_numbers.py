"""Pure Voice knows the caller: a user verifies their phone number with a code the mock provider texts to it, and
calls from that number skip the PIN; codes expire and run out, and another user can neither block nor take it."""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import bearer
from ..utils import connect
from .support import act, collect_events, ok, problem, state
from .voice_audio import spoken_wav

ID = "pure-voice"
CALLS = "/api/mock/telephony/calls"
OWN = "+14155550199"
OTHER = "+14155550123"


async def _code(http: httpx.AsyncClient, login: dict, to: str) -> str:
    """The last code the mock provider texted to ``to`` on this user's behalf (the simulated handset)."""
    listed = await http.get("/api/mock/telephony/messages", headers=bearer(login))
    assert listed.status_code == 200, listed.text
    bodies = [m["body"] for m in listed.json()["messages"] if m["to"] == to]
    assert bodies, listed.json()
    return bodies[-1].rsplit(" ", 1)[1]


async def _verify(http: httpx.AsyncClient, login: dict, number: str, typed: str | None = None) -> None:
    await ok(http, login, ID, "register_number", number=typed or number)
    await ok(http, login, ID, "verify_number", code=await _code(http, login, number))


async def _ring_in(http: httpx.AsyncClient, login: dict, caller: str) -> dict[str, Any]:
    """A call from ``caller`` to the user's number, placed with the provider for Ada, rung and answered."""
    number = (await state(http, login, ID))["number"]
    placed = await http.post(
        CALLS, json={"to": number, "from": caller, "replica_id": ADA_LOVELACE_UUID}, headers=bearer(login)
    )
    assert placed.status_code == 201, placed.text
    sid = placed.json()["call"]["sid"]
    for status in ("ringing", "answered"):
        moved = await http.post(f"{CALLS}/{sid}/events", json={"status": status}, headers=bearer(login))
        assert moved.status_code == 200, moved.text
    return moved.json()["call"]


async def _status(http: httpx.AsyncClient, login: dict, call_id: str) -> str:
    [call] = [c for c in (await state(http, login, ID))["calls"] if c["id"] == call_id]
    return str(call["status"])


async def test_a_call_from_the_verified_number_skips_the_pin_and_others_do_not(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """Alice registers her number as she writes it, reads the code the provider texted to it and verifies it: a
    call from that number is answered at once (`verified_caller`), the replica talks without a PIN; a call from
    another number still waits for the PIN."""
    await ok(http, alice, ID, "set_pin", pin="4321")
    pending = (await ok(http, alice, ID, "register_number", number="+1 (415) 555-0199"))["number"]
    assert pending["pending_number"] == OWN and pending["number"] is None and pending["code_expires_at"]
    shown = await state(http, alice, ID)
    assert (shown["pending_number"], shown["verified_number"]) == (OWN, None)
    verified = (await ok(http, alice, ID, "verify_number", code=await _code(http, alice, OWN)))["number"]
    assert (verified["number"], verified["pending_number"]) == (OWN, None) and verified["verified_at"]
    assert (await state(http, alice, ID))["verified_number"] == OWN

    async with connect(server, alice["access_token"]) as tab:
        known = await _ring_in(http, alice, OWN)
        [incoming] = await collect_events(tab, ID, "incoming_call", lambda d: True)
        assert incoming["call_id"] == known["voice_call_id"] and incoming["verified_caller"] is True
        assert await _status(http, alice, known["voice_call_id"]) == "active"
        said = await ok(http, alice, ID, "say", call_id=known["voice_call_id"], text="it's me")
        assert 'You wrote: "it\'s me"' in said["reply"]

        stranger = await _ring_in(http, alice, OTHER)
        [incoming] = await collect_events(tab, ID, "incoming_call", lambda d: d["call_id"] == stranger["voice_call_id"])
        assert incoming["verified_caller"] is False
    assert await _status(http, alice, stranger["voice_call_id"]) == "awaiting_pin"
    problem(await act(http, alice, ID, "say", call_id=stranger["voice_call_id"], text="hi"), 409, "pin_required")

    await ok(http, alice, ID, "remove_number")
    again = await _ring_in(http, alice, OWN)
    assert await _status(http, alice, again["voice_call_id"]) == "awaiting_pin"


async def test_an_unverified_number_does_not_skip_the_pin(http: httpx.AsyncClient, alice: dict) -> None:
    """A number registered but not verified (the code never given) is asked for the PIN like any caller."""
    await ok(http, alice, ID, "register_number", number=OWN)
    call = await _ring_in(http, alice, OWN)
    assert await _status(http, alice, call["voice_call_id"]) == "awaiting_pin"


async def test_numbers_are_normalised_and_bad_ones_refused(http: httpx.AsyncClient, alice: dict) -> None:
    """A number written "0044 20 7946 0018" is +442079460018; a national number (no country) or letters are 422."""
    pending = (await ok(http, alice, ID, "register_number", number="0044 20 7946 0018"))["number"]
    assert pending["pending_number"] == "+442079460018"
    for bad in ("415 555 0199", "+1 415 CALL ME", "+0123456789", "+1234"):
        problem(await act(http, alice, ID, "register_number", number=bad), 422, "validation_error")


async def test_codes_run_out_expire_and_are_sent_a_bounded_number_of_times(
    http: httpx.AsyncClient, alice: dict, pool: asyncpg.Pool
) -> None:
    """Five wrong codes use the code up (even the right one is then refused); a new code works; an expired code is
    refused; a sixth code within the hour is 429 with Retry-After; a code is kept only as a hash."""
    await ok(http, alice, ID, "register_number", number=OWN)
    code = await _code(http, alice, OWN)
    wrong = "000000" if code != "000000" else "111111"
    details = [
        problem(await act(http, alice, ID, "verify_number", code=wrong), 403, "wrong_code")["detail"] for _ in range(5)
    ]
    assert details[0] == "wrong code: 4 attempts left" and details[-1].startswith("wrong code: no attempts left")
    problem(await act(http, alice, ID, "verify_number", code=code), 403, "wrong_code")
    stored = await pool.fetchrow("SELECT code_hash, number FROM voice_numbers WHERE user_id = $1", alice["user"]["id"])
    assert stored["number"] is None and code.encode() not in stored["code_hash"]

    await ok(http, alice, ID, "register_number", number=OWN)
    await pool.execute(
        "UPDATE voice_numbers SET code_expires_at = now() - interval '1 second' WHERE user_id = $1",
        alice["user"]["id"],
    )
    expired = problem(
        await act(http, alice, ID, "verify_number", code=await _code(http, alice, OWN)), 403, "wrong_code"
    )
    assert "expired" in expired["detail"]

    await ok(http, alice, ID, "register_number", number=OWN)
    await ok(http, alice, ID, "verify_number", code=await _code(http, alice, OWN))
    assert (await state(http, alice, ID))["verified_number"] == OWN
    for _ in range(2):
        await ok(http, alice, ID, "register_number", number=OTHER)
    limited = await act(http, alice, ID, "register_number", number=OTHER)
    problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert (await state(http, alice, ID))["verified_number"] == OWN  # a pending number leaves the verified one


async def test_another_user_can_neither_block_nor_take_a_number(
    http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Bob claims Alice's number first and burns his attempts: Alice still verifies it. Once hers, Bob cannot claim
    it (409 `number_taken`), and even the code sent to his earlier claim does not take it over; Alice cannot
    verify a number Bob verified, and calls from Alice's number to Bob still need Bob's PIN."""
    await ok(http, bob, ID, "register_number", number=OWN)
    bobs_code = await _code(http, bob, OWN)
    for _ in range(4):
        problem(await act(http, bob, ID, "verify_number", code="999999" if bobs_code != "999999" else "888888"), 403,
                "wrong_code")  # fmt: skip

    await _verify(http, alice, OWN)
    problem(await act(http, bob, ID, "verify_number", code=bobs_code), 409, "number_taken")
    problem(await act(http, bob, ID, "register_number", number=OWN), 409, "number_taken")
    problem(await act(http, alice, ID, "register_number", number=OWN), 422, "validation_error")

    await _verify(http, bob, OTHER, typed="+1-415-555-0123")
    problem(await act(http, alice, ID, "register_number", number=OTHER), 409, "number_taken")
    call = await _ring_in(http, bob, OWN)
    assert await _status(http, bob, call["voice_call_id"]) == "awaiting_pin"


async def test_without_the_voice_extra_audio_is_501(
    http: httpx.AsyncClient, alice: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pocketsphinx installed (its import blocked, as Python sees a missing package), `say_audio` answers
    501 `speech_unavailable` naming the extra, and the call goes on in text."""
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    refused = problem(await act(http, alice, ID, "say_audio", call_id=call_id, audio=spoken_wav()), 501,
                      "speech_unavailable")  # fmt: skip
    assert "sensay-hub[voice]" in refused["detail"]
    await ok(http, alice, ID, "say", call_id=call_id, text="text still works")
