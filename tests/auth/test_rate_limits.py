"""Brute-force limits on sign-up, login and refresh, per client address and per email, against real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica

from ..utils import run_server
from .gotrue_support import PASSWORD, gotrue_client, gotrue_settings, login, refresh, signup

WRONG = {"password": "wrong password"}


def limited(settings: Settings, **rates: str) -> Settings:
    generous = {"rate_limit_signup": "100/minute", "rate_limit_login": "100/minute", "rate_limit_email": "100/minute"}
    return gotrue_settings(settings, **{**generous, "rate_limit_refresh": "100/minute", **rates})


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}  # uvicorn trusts it from 127.0.0.1, as behind a proxy


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


@pytest.mark.parametrize("hub", [{"rate_limit_email": "3/minute"}], indirect=True)
async def test_failed_logins_per_email(hub: str) -> None:
    """Three failures for one email, from three addresses, lock that email for a while; its owner's successes
    before that never counted, and other emails are untouched."""
    async with gotrue_client(hub) as auth:
        await signup(auth, "victim@example.com")
        await signup(auth, "bystander@example.com")
        for _ in range(5):
            await login(auth, "victim@example.com")  # successes use up nothing
        for n in range(3):
            body = {"email": "victim@example.com", **WRONG}
            wrong = await auth.post("/token?grant_type=password", json=body, headers=from_address(f"203.0.113.{n}"))
            assert wrong.status_code == 400
        right = {"email": "victim@example.com", "password": PASSWORD}
        assert_limited(await auth.post("/token?grant_type=password", json=right, headers=from_address("192.0.2.1")))
        await login(auth, "bystander@example.com")


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
