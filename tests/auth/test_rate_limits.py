"""Brute-force limits on sign-up, login and refresh, per client address and per account, against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica

from ..utils import run_server
from .gotrue_support import LOOPBACK, PASSWORD, gotrue_client, gotrue_settings, refresh, signup

WRONG = {"password": "wrong password"}


def limited(settings: Settings, **rates: str) -> Settings:
    generous = {f"rate_limit_{kind}": "100/minute" for kind in ("signup", "login", "refresh", "email", "account")}
    return gotrue_settings(settings, **{**generous, "trusted_proxies": LOOPBACK, **rates})


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}  # the test server trusts loopback as a proxy (TRUSTED_PROXIES)


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"code": "over_request_rate_limit", "message": "Request rate limit reached"}
    assert 1 <= int(response.headers["retry-after"]) <= 60


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    rates = getattr(request, "param", {})
    async with run_server(create_app(limited(settings, **rates), replica=replica)) as url:
        yield url


@pytest.mark.parametrize("hub", [{"rate_limit_login": "3/minute"}], indirect=True)
async def test_logins_per_address(hub: str) -> None:
    """The fourth login within the window from one address is 429 with Retry-After; another address goes on."""
    async with gotrue_client(hub) as auth:
        for n in range(3):
            body = {"email": f"guess{n}@example.com", **WRONG}
            answer = await auth.post("/token?grant_type=password", json=body, headers=from_address("203.0.113.9"))
            assert answer.status_code == 400
        body = {"email": "guess@example.com", **WRONG}
        assert_limited(await auth.post("/token?grant_type=password", json=body, headers=from_address("203.0.113.9")))
        other = await auth.post("/token?grant_type=password", json=body, headers=from_address("198.51.100.7"))
        assert other.status_code == 400


async def guess(auth: httpx.AsyncClient, email: str, address: str, password: str = "wrong password") -> int:
    """One password login from ``address``: its status."""
    body = {"email": email, "password": password}
    return (await auth.post("/token?grant_type=password", json=body, headers=from_address(address))).status_code


@pytest.mark.parametrize("hub", [{"rate_limit_email": "10/5minutes"}], indirect=True)
async def test_ten_wrong_passwords_from_one_address_do_not_lock_the_owner_out(hub: str) -> None:
    """After 10 wrong passwords from address A, A is refused for that account, and the owner's correct login
    from address B succeeds, on /auth/v1/token and on /api/auth/login."""
    async with gotrue_client(hub) as auth, httpx.AsyncClient(base_url=hub) as api:
        await signup(auth, "owner@example.com")
        await signup(auth, "owner2@example.com")
        assert [await guess(auth, "owner@example.com", "203.0.113.1") for _ in range(10)] == [400] * 10
        assert await guess(auth, "owner@example.com", "203.0.113.1", PASSWORD) == 429
        assert await guess(auth, "owner@example.com", "198.51.100.2", PASSWORD) == 200

        wrong = {"email": "owner2@example.com", "password": "wrong password"}
        right = {"email": "owner2@example.com", "password": PASSWORD}
        statuses = []
        for _ in range(10):
            answer = await api.post("/api/auth/login", json=wrong, headers=from_address("203.0.113.1"))
            statuses.append(answer.status_code)
        assert statuses == [401] * 10
        refused = await api.post("/api/auth/login", json=right, headers=from_address("203.0.113.1"))
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        owner = await api.post("/api/auth/login", json=right, headers=from_address("198.51.100.2"))
        assert owner.status_code == 200, owner.text


@pytest.mark.parametrize("hub", [{"rate_limit_email": "3/minute"}], indirect=True)
async def test_the_owners_successes_never_count(hub: str) -> None:
    """A right password forgets the address's failures on the account: a typo now and then never adds up."""
    async with gotrue_client(hub) as auth:
        await signup(auth, "typo@example.com")
        for _ in range(4):
            assert await guess(auth, "typo@example.com", "203.0.113.5") == 400
            assert await guess(auth, "typo@example.com", "203.0.113.5") == 400
            assert await guess(auth, "typo@example.com", "203.0.113.5", PASSWORD) == 200


async def forty_parallel_guesses(configured: Settings, replica: LocalReplica) -> list[int]:
    async with run_server(create_app(configured, replica=replica)) as hub, gotrue_client(hub, timeout=120) as auth:
        await signup(auth, "target@example.com")
        return list(await asyncio.gather(*(guess(auth, "target@example.com", "203.0.113.7") for _ in range(40))))


async def test_parallel_guesses_never_exceed_the_limit(settings: Settings, replica: LocalReplica) -> None:
    """40 wrong passwords for one account sent at once from one address: exactly the limit (10) are checked,
    the rest are 429, because each is counted before its password is verified."""
    statuses = await forty_parallel_guesses(limited(settings, rate_limit_email="10/5minutes"), replica)
    assert sorted(set(statuses)) == [400, 429] and statuses.count(400) == 10, statuses


async def test_parallel_guesses_never_exceed_the_limit_in_redis(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    """The same with the counts in Redis (one Lua script checks and counts)."""
    configured = replace(limited(settings, rate_limit_email="10/5minutes"), redis_url=Secret(shared_redis))
    statuses = await forty_parallel_guesses(configured, replica)
    assert sorted(set(statuses)) == [400, 429] and statuses.count(400) == 10, statuses


@pytest.mark.parametrize(
    "hub", [{"rate_limit_email": "10/minute", "rate_limit_account": "3/minute", "login_slowdown": 0.2}], indirect=True
)
async def test_guessing_from_many_addresses_gets_one_guess_each_and_the_owner_still_logs_in(hub: str) -> None:
    """Past the account's limit across addresses, an address that failed on it is refused (even with the right
    password); an address that has not failed is slowed, never refused: the owner logs in, a guesser gets one try."""
    async with gotrue_client(hub) as auth:
        await signup(auth, "popular@example.com")
        await signup(auth, "other@example.com")
        for n in range(3):
            assert await guess(auth, "popular@example.com", f"203.0.113.{n}") == 400
        assert await guess(auth, "popular@example.com", "203.0.113.0") == 429
        assert await guess(auth, "popular@example.com", "203.0.113.1", PASSWORD) == 429
        assert await guess(auth, "popular@example.com", "203.0.113.50") == 400  # a new address: one guess
        assert await guess(auth, "popular@example.com", "203.0.113.50") == 429
        assert await guess(auth, "popular@example.com", "198.51.100.9", PASSWORD) == 200  # the owner
        assert await guess(auth, "other@example.com", "203.0.113.0", PASSWORD) == 200  # other accounts untouched


@pytest.mark.parametrize("hub", [{"rate_limit_signup": "2/minute", "rate_limit_refresh": "2/minute"}], indirect=True)
async def test_signups_and_refreshes_per_address(hub: str) -> None:
    """Sign-ups and refreshes have limits of their own; /api/auth answers a 429 problem with Retry-After."""
    async with gotrue_client(hub) as auth, httpx.AsyncClient(base_url=hub) as http:
        session = await signup(auth, "one@example.com")
        await signup(auth, "two@example.com")
        assert_limited(await auth.post("/signup", json={"email": "three@example.com", "password": PASSWORD}))
        problem = await http.post("/api/auth/signup", json={"email": "three@example.com", "password": PASSWORD})
        assert (problem.status_code, problem.json()["code"]) == (429, "rate_limited")
        assert int(problem.headers["retry-after"]) >= 1
        token = session["refresh_token"]
        for _ in range(2):
            answer = await refresh(auth, token)
            assert answer.status_code == 200
            token = answer.json()["refresh_token"]
        assert_limited(await refresh(auth, token))


async def test_limits_hold_across_processes_on_redis(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    """Two nodes on one Redis count together: attempts on node A use up what node B allows."""
    shared = replace(limited(settings, rate_limit_login="3/minute"), redis_url=Secret(shared_redis))
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        run_server(create_app(shared, replica=replica)) as node_b,
    ):
        async with gotrue_client(node_a) as a, gotrue_client(node_b) as b:
            body = {"email": "guess@example.com", **WRONG}
            for auth in (a, a, b):
                assert (await auth.post("/token?grant_type=password", json=body)).status_code == 400
            assert_limited(await a.post("/token?grant_type=password", json=body))
            assert_limited(await b.post("/token?grant_type=password", json=body))


async def test_a_redis_outage_lets_requests_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """With Redis unreachable, limits fail open (nobody is locked out) and each miss is logged."""
    from server.ratelimit import RateLimiter, parse_rate

    limiter = RateLimiter("redis://127.0.0.1:1/0", prefix="outage")  # nothing listens on port 1
    try:
        with caplog.at_level("WARNING", logger="server.ratelimit"):
            assert await limiter.hit(parse_rate("1/minute"), "login", "203.0.113.1") is None
            assert await limiter.hit(parse_rate("1/minute"), "login", "203.0.113.1") is None
    finally:
        await limiter.aclose()
    assert len([r for r in caplog.records if "rate limit store failed" in r.getMessage()]) == 2
