"""Refresh-token rotation with GoTrue's reuse rules, through both APIs, against a real server and database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..utils import connect, run_server
from .gotrue_support import PASSWORD, bearer, gotrue_client, gotrue_settings, login, refresh, signup


@pytest.fixture(params=[0, 10], ids=["no-reuse-interval", "reuse-interval-10s"])
async def hub(request: pytest.FixtureRequest, settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    configured = gotrue_settings(settings, refresh_token_reuse_interval=request.param)
    async with run_server(create_app(configured, replica=replica)) as url:
        yield url


async def rotate_twice(auth: httpx.AsyncClient) -> list[dict]:
    """Sign up and refresh twice: the sessions holding refresh tokens 0, 1 and 2."""
    sessions = [await signup(auth, "alice@example.com")]
    for _ in range(2):
        response = await refresh(auth, sessions[-1]["refresh_token"])
        assert response.status_code == 200, response.text
        sessions.append(response.json())
    assert len({s["refresh_token"] for s in sessions}) == 3
    return sessions


async def test_the_token_just_before_gets_the_newest_again(hub: str) -> None:
    """A client that lost a refresh answer retries with its old token and gets the newest one, not an error."""
    async with gotrue_client(hub) as auth:
        sessions = await rotate_twice(auth)
        retried = await refresh(auth, sessions[1]["refresh_token"])
        assert retried.status_code == 200 and retried.json()["refresh_token"] == sessions[2]["refresh_token"]
        assert (await auth.get("/user", headers=bearer(retried.json()))).status_code == 200


async def test_an_older_token_ends_the_session_unless_within_the_reuse_interval(
    hub: str, request: pytest.FixtureRequest
) -> None:
    """Token 0 after two rotations: with no reuse interval the session (every token of it) ends and its socket
    closes with 4003; within the interval (tabs refreshing at once) it gets the newest token."""
    interval = request.node.callspec.params["hub"]
    async with gotrue_client(hub) as auth:
        sessions = await rotate_twice(auth)
        async with connect(hub, sessions[2]["access_token"]) as tab:
            replayed = await refresh(auth, sessions[0]["refresh_token"])
            if interval:
                assert replayed.status_code == 200
                assert replayed.json()["refresh_token"] == sessions[2]["refresh_token"]
                return
            assert (replayed.status_code, replayed.json()["code"]) == (400, "refresh_token_already_used")
            assert await tab.close_code() == 4003
        newest = await refresh(auth, sessions[2]["refresh_token"])
        assert (newest.status_code, newest.json()["code"]) == (400, "refresh_token_not_found")
        assert (await auth.get("/user", headers=bearer(sessions[2]))).json()["code"] == "session_not_found"
        assert (await auth.get("/user", headers=bearer(await login(auth, "alice@example.com")))).status_code == 200


async def test_parallel_refreshes_with_one_token_agree(hub: str) -> None:
    """Tabs refreshing with the same token at once all succeed and all end up holding the same newest token."""
    async with gotrue_client(hub) as auth:
        session = await signup(auth, "alice@example.com")
        answers = await asyncio.gather(*(refresh(auth, session["refresh_token"]) for _ in range(5)))
        assert [a.status_code for a in answers] == [200] * 5
        assert len({a.json()["refresh_token"] for a in answers}) == 1


async def test_reuse_through_api_auth_ends_the_session_too(settings: Settings, replica: LocalReplica) -> None:
    """/api/auth/refresh applies the same rules: a replayed old token is 401 and the session's sockets close."""
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            await http.post("/api/auth/signup", json={"email": "rest@example.com", "password": PASSWORD})
            tokens = [
                (await http.post("/api/auth/login", json={"email": "rest@example.com", "password": PASSWORD})).json()
            ]
            for _ in range(2):
                tokens.append(
                    (await http.post("/api/auth/refresh", json={"refresh_token": tokens[-1]["refresh_token"]})).json()
                )
            async with connect(url, tokens[2]["access_token"]) as tab:
                replay = await http.post("/api/auth/refresh", json={"refresh_token": tokens[0]["refresh_token"]})
                assert (replay.status_code, replay.json()["code"]) == (401, "invalid_refresh_token")
                assert await tab.close_code() == 4003
            assert (await http.get("/api/auth/me", headers=bearer(tokens[2]))).status_code == 401


async def test_expired_and_foreign_refresh_tokens(hub: str, pool: asyncpg.Pool) -> None:
    """A session past its refresh lifetime answers session_expired; a token this server did not sign, not found."""
    async with gotrue_client(hub) as auth:
        session = await signup(auth, "alice@example.com")
        await pool.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
        expired = await refresh(auth, session["refresh_token"])
        assert (expired.status_code, expired.json()["code"]) == (400, "session_expired")
        for token in ("x" * 54, session["refresh_token"][:-4] + "AAAA", "short"):
            refused = await refresh(auth, token)
            assert refused.status_code == 400
            assert refused.json()["code"] in {"refresh_token_not_found", "validation_failed"}, token
