"""The TypeScript client's token handling against a hub whose access tokens live a few seconds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from server.config import Settings

from .node import node_test

ACCESS_TOKEN_TTL = 8
"""Long enough for a refresh round trip on a busy machine, short enough to outlive within a test."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, access_token_ttl=ACCESS_TOKEN_TTL)


async def test_tokens_refresh_logout_and_refusal(server: str, node_tests: Path) -> None:
    """Expiring tokens are replaced via getToken() on the open socket; logout, close() and 4001 stop reconnecting."""
    await node_test("auth", HUB_URL=server)
