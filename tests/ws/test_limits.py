"""Abuse limits over real sockets and HTTP: each trips with its documented answer, is counted, and resets."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
import websockets

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica

from ..conftest import bearer
from ..utils import WsClient, connect, run_server, sample, scrape, signup_and_login


async def _pong(client: WsClient, frame_id: str) -> dict:
    await client.send({"type": "ping", "id": frame_id})
    return await client.recv()


async def test_sockets_per_user_are_capped_with_4010_and_free_again_after_a_close(
    settings: Settings, replica: LocalReplica
) -> None:
    """With WS_MAX_SOCKETS_PER_USER=2 a third socket of the user closes with 4010; another user is unaffected,
    and once one socket closes the user may open another."""
    async with run_server(create_app(replace(settings, ws_max_sockets_per_user=2), replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            ada, bob = await signup_and_login(http, "ada@example.com"), await signup_and_login(http, "bo@example.com")
        before = sample(await scrape(url), "sensay_hub_ws_closes_total", reason="too_many_sockets")
        async with connect(url, ada["access_token"]), connect(url, ada["access_token"]) as second:
            async with connect(url) as third:
                await third.send({"type": "auth", "token": ada["access_token"]})
                assert await third.close_code() == 4010
            async with connect(url, bob["access_token"]) as other:
                assert (await _pong(other, "b"))["type"] == "pong"
            await second.ws.close()
            async with asyncio.timeout(5):
                while True:  # the server sees the close on its own schedule
                    async with connect(url) as again:
                        await again.send({"type": "auth", "token": ada["access_token"]})
                        if (await again.recv())["type"] == "hello":
                            break
        after = sample(await scrape(url), "sensay_hub_ws_closes_total", reason="too_many_sockets")
        assert after >= before + 1


async def test_sockets_per_address_are_capped_before_authentication(settings: Settings, replica: LocalReplica) -> None:
    """With WS_MAX_SOCKETS_PER_ADDRESS=3 a fourth socket from the address closes with 4010 even unauthenticated."""
    async with run_server(create_app(replace(settings, ws_max_sockets_per_address=3), replica=replica)) as url:
        async with connect(url), connect(url), connect(url) as third:
            async with connect(url) as fourth:
                assert await fourth.close_code() == 4010
            await third.ws.close()
            async with asyncio.timeout(5):
                while True:
                    async with connect(url) as again:
                        try:
                            await asyncio.wait_for(again.ws.recv(), 0.2)
                        except TimeoutError:
                            break  # still open, waiting for auth: admitted
                        except websockets.ConnectionClosed:
                            continue


async def test_frames_per_user_are_limited_across_sockets_then_reset(settings: Settings, replica: LocalReplica) -> None:
    """With WS_USER_FRAME_RATE=10/2seconds, frames spread over three sockets of one user get rate_limited past
    ten; after the window the user is served again."""
    limited = replace(settings, ws_user_frame_rate="10/2seconds")
    async with run_server(create_app(limited, replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            ada = await signup_and_login(http, "ada@example.com")
        before = sample(await scrape(url), "sensay_hub_rate_limited_total", limit="user")
        async with connect(url, ada["access_token"]) as a, connect(url, ada["access_token"]) as b:
            async with connect(url, ada["access_token"]) as c:
                answers = [await _pong(tab, f"{n}") for n in range(5) for tab in (a, b, c)]
        codes = [frame.get("code", frame["type"]) for frame in answers]
        assert codes.count("pong") == 10 and codes.count("rate_limited") == 5, codes
        after = sample(await scrape(url), "sensay_hub_rate_limited_total", limit="user")
        assert after == before + 5
        async with connect(url, ada["access_token"]) as fresh:
            async with asyncio.timeout(5):
                while (await _pong(fresh, "later"))["type"] != "pong":
                    await asyncio.sleep(0.2)  # the moving window lets the user in again


@pytest.mark.redis
async def test_frames_per_user_are_limited_across_processes_with_redis(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    """Two processes sharing Redis count one user's frames together: the budget spent on one is gone on the other."""
    shared = replace(settings, ws_user_frame_rate="6/10seconds", redis_url=Secret(shared_redis))
    async with (
        run_server(create_app(shared, replica=replica)) as node_a,
        run_server(create_app(shared, replica=replica)) as node_b,
    ):
        async with httpx.AsyncClient(base_url=node_a) as http:
            ada = await signup_and_login(http, "ada-redis@example.com")
        async with connect(node_a, ada["access_token"]) as on_a, connect(node_b, ada["access_token"]) as on_b:
            assert [(await _pong(on_a, str(n)))["type"] for n in range(6)] == ["pong"] * 6
            refused = await _pong(on_b, "b")
            assert refused["type"] == "error" and refused["code"] == "rate_limited" and refused["retryable"] is True


async def test_rest_writes_per_user_are_limited_with_429_then_reset(settings: Settings, replica: LocalReplica) -> None:
    """With REST_WRITE_RATE=3/2seconds the fourth write is 429 rate_limited with Retry-After; reads and other users
    go on; after the window writes succeed again."""
    async with run_server(create_app(replace(settings, rest_write_rate="3/2seconds"), replica=replica)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            ada, bob = await signup_and_login(http, "ada@example.com"), await signup_and_login(http, "bo@example.com")
            for n in range(3):
                assert (
                    await http.post("/api/tasks", json={"description": f"t{n}"}, headers=bearer(ada))
                ).status_code == 201
            refused = await http.post("/api/tasks", json={"description": "t3"}, headers=bearer(ada))
            assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
            assert (await http.get("/api/tasks", headers=bearer(ada))).status_code == 200
            assert (await http.post("/api/tasks", json={"description": "b"}, headers=bearer(bob))).status_code == 201
            async with asyncio.timeout(10):
                while (
                    await http.post("/api/tasks", json={"description": "t4"}, headers=bearer(ada))
                ).status_code != 201:
                    await asyncio.sleep(0.25)
