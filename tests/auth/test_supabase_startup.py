"""Start-up with Supabase Auth fetches the JWKS and refuses a setup in which no token could be verified."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica
from server.startup import StartupError

from ..utils import run_server
from .gotrue_peer import GoTruePeer


def _supabase(settings: Settings, peer: GoTruePeer, peer_url: str, *, secret: bool) -> Settings:
    return replace(
        settings,
        jwt_secret=None,
        supabase_url=peer_url,
        supabase_anon_key=Secret(peer.anon_key),
        supabase_jwt_secret=Secret(peer.hs256_secret) if secret else None,
    )


async def test_a_legacy_secret_project_without_the_secret_refuses_to_start(
    settings: Settings, replica: LocalReplica
) -> None:
    """A project that signs with HS256 publishes no keys: without SUPABASE_JWT_SECRET the app will not start."""
    peer = GoTruePeer(mode="HS256")
    async with run_server(peer.app) as peer_url:
        app = create_app(_supabase(settings, peer, peer_url, secret=False), replica=replica)
        with pytest.raises(StartupError, match="SUPABASE_JWT_SECRET") as refused:
            async with app.router.lifespan_context(app):
                pass
    assert "no asymmetric signing keys" in str(refused.value)
    assert peer.calls["GET jwks"] == 1, "the JWKS is fetched at start-up"


async def test_start_up_names_how_tokens_are_verified(
    settings: Settings, replica: LocalReplica, caplog: pytest.LogCaptureFixture
) -> None:
    """With signing keys published, start-up fetches them once and says so."""
    peer = GoTruePeer(mode="ES256")
    async with run_server(peer.app) as peer_url:
        app = create_app(_supabase(settings, peer, peer_url, secret=False), replica=replica)
        with caplog.at_level(logging.INFO, logger="server"):
            async with app.router.lifespan_context(app):
                assert peer.calls["GET jwks"] == 1
    assert "Supabase tokens verified with JWKS (1 signing key(s))" in caplog.text


async def test_an_unreachable_jwks_without_a_secret_starts_but_says_why_tokens_fail(
    settings: Settings, replica: LocalReplica, caplog: pytest.LogCaptureFixture
) -> None:
    """A JWKS that is down at start-up is logged as an error naming the URL; the service still starts."""
    peer = GoTruePeer(mode="ES256")
    peer.jwks_down = True
    async with run_server(peer.app) as peer_url:
        app = create_app(_supabase(settings, peer, peer_url, secret=False), replica=replica)
        with caplog.at_level(logging.INFO, logger="server"):
            async with app.router.lifespan_context(app):
                pass
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "server"]
    assert len(errors) == 1 and "did not answer" in errors[0].getMessage()
    assert f"{peer_url}/auth/v1/.well-known/jwks.json" in errors[0].getMessage()


async def test_the_legacy_secret_alone_is_enough_to_start(settings: Settings, replica: LocalReplica) -> None:
    """An HS256 project with SUPABASE_JWT_SECRET starts normally."""
    peer = GoTruePeer(mode="HS256")
    async with run_server(peer.app) as peer_url:
        app = create_app(_supabase(settings, peer, peer_url, secret=True), replica=replica)
        async with app.router.lifespan_context(app):
            pass
