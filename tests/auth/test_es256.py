"""JWT_SIGNING=es256: tokens signed with a P-256 key kept in DATA_DIR, published as a JWKS, shared between nodes."""

from __future__ import annotations

import stat
from dataclasses import replace

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica

from ..utils import connect, run_server
from .gotrue_support import bearer, gotrue_client, gotrue_settings, login, refresh, signup


async def test_es256_tokens_carry_the_published_key(settings: Settings, replica: LocalReplica) -> None:
    """The key is made once (0600) and published at the JWKS; tokens name it by kid and verify with it."""
    es256 = gotrue_settings(settings, jwt_signing="es256")
    kids = []
    for _ in range(2):  # a restart keeps the key
        async with run_server(create_app(es256, replica=replica)) as url, gotrue_client(url) as auth:
            keys = (await auth.get("/.well-known/jwks.json")).json()["keys"]
            assert [(k["kty"], k["crv"], k["alg"], k["use"]) for k in keys] == [("EC", "P-256", "ES256", "sig")]
            assert "d" not in keys[0], "the private part is never published"
            session = await signup(auth, f"es{len(kids)}@example.com")
            header = jwt.get_unverified_header(session["access_token"])
            assert header == {"alg": "ES256", "kid": keys[0]["kid"], "typ": "JWT"}
            public = jwt.PyJWK(keys[0]).key
            claims = jwt.decode(session["access_token"], public, algorithms=["ES256"], audience="authenticated")
            assert claims["sub"] == session["user"]["id"]
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/api/tasks", headers=bearer(session))).status_code == 200
            kids.append(keys[0]["kid"])
    assert kids[0] == kids[1]
    assert stat.S_IMODE((es256.data_dir / "jwt-es256.pem").stat().st_mode) == 0o600


async def test_nodes_sharing_the_key_are_one_auth_service(
    settings: Settings, replica: LocalReplica, shared_redis: str
) -> None:
    """With one JWT_SIGNING_KEY and JWT_SECRET on Redis, a session from node A works on node B, refreshes
    there, and a logout through /auth/v1 on A closes its socket on B with 4003."""
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    shared = replace(
        gotrue_settings(settings, jwt_signing="es256", jwt_signing_key=Secret(pem)), redis_url=Secret(shared_redis)
    )
    async with (
        run_server(create_app(replace(shared, data_dir=settings.data_dir / "a"), replica=replica)) as node_a,
        run_server(create_app(replace(shared, data_dir=settings.data_dir / "b"), replica=replica)) as node_b,
    ):
        async with gotrue_client(node_a) as a, gotrue_client(node_b) as b:
            await signup(a, "multi@example.com")
            session = await login(a, "multi@example.com")
            assert (await b.get("/user", headers=bearer(session))).status_code == 200
            moved = await refresh(b, session["refresh_token"])
            assert moved.status_code == 200
            async with connect(node_b, moved.json()["access_token"]) as tab_b:
                assert (await a.post("/logout", headers=bearer(moved.json()))).status_code == 204
                assert await tab_b.close_code() == 4003
            assert (await b.get("/user", headers=bearer(moved.json()))).json()["code"] == "session_not_found"
