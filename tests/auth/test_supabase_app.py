"""The whole app on Supabase Auth (a GoTrue peer): its tokens work on REST and sockets, bad ones never do."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Literal

import httpx
import jwt
import pytest
import websockets

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica

from ..utils import connect, run_server
from .gotrue_peer import GoTruePeer, SigningKey

PASSWORD = "correct horse battery"


@pytest.fixture(params=["ES256", "HS256"])
async def supabase_app(
    request: pytest.FixtureRequest, settings: Settings, replica: LocalReplica
) -> AsyncIterator[tuple[str, GoTruePeer]]:
    mode: Literal["ES256", "HS256"] = request.param
    peer = GoTruePeer(mode=mode)
    async with run_server(peer.app) as peer_url:
        configured = replace(
            settings,
            jwt_secret=None,
            supabase_url=peer_url,
            supabase_anon_key=Secret(peer.anon_key),
            supabase_jwt_secret=Secret(peer.hs256_secret) if mode == "HS256" else None,
        )
        async with run_server(create_app(configured, replica=replica)) as url:
            yield url, peer


async def test_supabase_tokens_work_on_rest_and_sockets(supabase_app: tuple[str, GoTruePeer]) -> None:
    url, peer = supabase_app
    async with httpx.AsyncClient(base_url=url) as http:
        signup = await http.post("/api/auth/signup", json={"email": "sb@example.com", "password": PASSWORD})
        assert signup.status_code == 201
        login = (await http.post("/api/auth/login", json={"email": "sb@example.com", "password": PASSWORD})).json()
        header = jwt.get_unverified_header(login["access_token"])
        assert header["alg"] == peer.mode
        auth = {"Authorization": f"Bearer {login['access_token']}"}
        me = await http.get("/api/auth/me", headers=auth)
        assert me.status_code == 200 and me.json()["user"]["email"] == "sb@example.com"
        task = await http.post("/api/tasks", json={"description": "from supabase"}, headers=auth)
        assert task.status_code == 201, "the Supabase user has a row of ours to own tasks"
        async with connect(url, login["access_token"]) as tab:
            await tab.send({"type": "ping", "id": "p"})
            await tab.recv_until("pong")  # the task's change frame may come first
            assert (await http.post("/api/auth/logout", headers=auth)).status_code == 204
            assert await tab.close_code() == 4003
        assert (await http.get("/api/auth/me", headers=auth)).status_code == 401


def _forged(peer: GoTruePeer, claims: dict, how: str) -> str:
    now = int(time.time())
    if how == "expired":
        return (
            peer.signing_key.sign({**claims, "exp": now - 60})
            if peer.mode == "ES256"
            else jwt.encode({**claims, "exp": now - 60}, peer.hs256_secret, algorithm="HS256")
        )
    if how == "wrong-audience":
        wrong = {**claims, "aud": "anon"}
        return peer.signing_key.sign(wrong) if peer.mode == "ES256" else jwt.encode(wrong, peer.hs256_secret, "HS256")
    if how == "wrong-key":
        if peer.mode == "ES256":
            return SigningKey.generate(kid=peer.signing_key.kid).sign(claims)
        return jwt.encode(claims, "another-secret-" + "z" * 32, algorithm="HS256")
    if how == "alg-none":
        return jwt.encode(claims, None, algorithm="none")
    if how == "wrong-issuer":
        other = {**claims, "iss": "https://other-project.supabase.co/auth/v1"}
        return peer.signing_key.sign(other) if peer.mode == "ES256" else jwt.encode(other, peer.hs256_secret, "HS256")
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["expired", "wrong-audience", "wrong-key", "alg-none", "wrong-issuer"])
async def test_bad_supabase_tokens_are_refused(supabase_app: tuple[str, GoTruePeer], how: str) -> None:
    url, peer = supabase_app
    async with httpx.AsyncClient(base_url=url) as http:
        await http.post("/api/auth/signup", json={"email": "sb2@example.com", "password": PASSWORD})
        login = (await http.post("/api/auth/login", json={"email": "sb2@example.com", "password": PASSWORD})).json()
        claims = peer.decode(login["access_token"])
        token = _forged(peer, claims, how)
        assert (await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4001


async def test_logout_on_one_node_refuses_the_token_on_another(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    """Supabase keeps no session table of ours: a logout travels to every node through the broker."""
    peer = GoTruePeer()
    async with run_server(peer.app) as peer_url:
        configured = replace(
            settings,
            jwt_secret=None,
            supabase_url=peer_url,
            supabase_anon_key=Secret(peer.anon_key),
            redis_url=Secret(shared_redis),
        )
        async with (
            run_server(create_app(configured, replica=replica)) as node_a,
            run_server(create_app(configured, replica=replica)) as node_b,
        ):
            async with httpx.AsyncClient(base_url=node_a) as a, httpx.AsyncClient(base_url=node_b) as b:
                await a.post("/api/auth/signup", json={"email": "two@example.com", "password": PASSWORD})
                login = (
                    await a.post("/api/auth/login", json={"email": "two@example.com", "password": PASSWORD})
                ).json()
                auth = {"Authorization": f"Bearer {login['access_token']}"}
                assert (await b.get("/api/auth/me", headers=auth)).status_code == 200
                assert (await a.post("/api/auth/logout", headers=auth)).status_code == 204
                for _ in range(50):
                    if (await b.get("/api/tasks", headers=auth)).status_code == 401:
                        break
                    await asyncio.sleep(0.02)
                assert (await b.get("/api/tasks", headers=auth)).status_code == 401


async def test_the_issuer_check_can_be_turned_off_for_custom_domains(settings: Settings, replica: LocalReplica) -> None:
    """With SUPABASE_VERIFY_ISSUER=0 a token whose iss names another host (a custom domain) is accepted."""
    peer = GoTruePeer()
    async with run_server(peer.app) as peer_url:
        configured = replace(
            settings,
            jwt_secret=None,
            supabase_url=peer_url,
            supabase_anon_key=Secret(peer.anon_key),
            supabase_verify_issuer=False,
        )
        async with run_server(create_app(configured, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
            await http.post("/api/auth/signup", json={"email": "custom@example.com", "password": PASSWORD})
            login = (
                await http.post("/api/auth/login", json={"email": "custom@example.com", "password": PASSWORD})
            ).json()
            token = _forged(peer, peer.decode(login["access_token"]), "wrong-issuer")
            assert (await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
