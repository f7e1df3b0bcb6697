"""Password hashing under attack, against a real server: fairness and no email oracle, asserted without a clock.

Rate limits are set high here, so that every request reaches argon2: what is checked is the hashing pool's
fairness (one hash at a time per address), not the 429s that would in practice stop most of such a flood.
Nothing here compares durations with a bound (the machine's load would decide the outcome): a real user's
logins are checked to finish while a flood queued before them is still hashing, which a pool that served the
flood first could not do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import extract_parameters

from server.app import create_app
from server.auth.passwords import Passwords
from server.config import Settings
from server.sensay.local import LocalReplica

from ..utils import connect, run_server
from .gotrue_support import LOOPBACK, PASSWORD, gotrue_client, gotrue_settings, signup

FLOOD = 30
USER_LOGINS = 3


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    generous = {f"rate_limit_{kind}": "10000/minute" for kind in ("signup", "login", "refresh", "email", "account")}
    configured = gotrue_settings(settings, **generous, trusted_proxies=LOOPBACK)
    async with run_server(create_app(configured, replica=replica)) as url:
        yield url


async def attempt(auth: httpx.AsyncClient, email: str, password: str, **headers: str) -> int:
    response = await auth.post(
        "/token?grant_type=password", json={"email": email, "password": password}, headers=headers
    )
    assert response.status_code in (200, 400), response.text
    return response.status_code


async def test_a_flood_of_wrong_passwords_does_not_hold_up_a_real_users_login(hub: str) -> None:
    """30 parallel wrong-password logins from one address queue behind each other: a user's logins from another
    address, sent after the flood started, all succeed while the flood is still hashing, and sockets answer."""
    attacker_headers = {"X-Forwarded-For": "203.0.113.66"}  # the test client is a trusted proxy
    email = f"real-{uuid.uuid4().hex[:8]}@example.com"
    async with gotrue_client(hub) as user, gotrue_client(hub, headers=attacker_headers, timeout=300) as attacker:
        session = await signup(user, email)
        flood = asyncio.gather(*(attempt(attacker, f"guess{n}@example.com", "wrong password") for n in range(FLOOD)))
        try:
            async with connect(hub, session["access_token"]) as tab:
                for n in range(USER_LOGINS):
                    assert await attempt(user, email, PASSWORD) == 200
                    await tab.send({"type": "ping", "id": f"p{n}"})
                    await tab.recv_until("pong")
            still_flooding = not flood.done()
        finally:
            statuses = await flood
    assert statuses == [400] * FLOOD  # every guess was hashed and refused (none limited, none failed)
    assert still_flooding, "the user's logins waited for the whole flood: hashing is not fair between addresses"


async def test_unknown_emails_cost_a_full_verification(hub: str) -> None:
    """A login for an unknown email answers exactly as a wrong password for a known one, after checking a dummy
    hash made with the very parameters of real ones (so both cost one argon2 verification of the same cost)."""
    passwords = Passwords(workers=1)
    try:
        real = await passwords.hash(PASSWORD)
        assert await passwords.verify(None, "not a real password") is False  # the dummy never matches
    finally:
        passwords.close()
    from server.auth import passwords as module

    assert extract_parameters(module._DUMMY_HASH) == extract_parameters(real)
    async with gotrue_client(hub) as auth:
        await signup(auth, "known@example.com")
        known = await auth.post("/token?grant_type=password", json={"email": "known@example.com", "password": "x"})
        unknown = await auth.post("/token?grant_type=password", json={"email": "nobody@example.com", "password": "x"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
