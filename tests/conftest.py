"""Shared fixtures: a real PostgreSQL, per-test databases, and a real running server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import LocalReplica, create_local_replica
from server.store.database import create_pool

from .databases import DatabaseFactory, postgres_server
from .utils import run_server, signup_and_login

TEST_JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
async def databases() -> AsyncIterator[DatabaseFactory]:
    async with postgres_server() as admin_dsn:
        factory = DatabaseFactory(admin_dsn)
        await factory.prepare_template()
        try:
            yield factory
        finally:
            await factory.drop_all()


@pytest.fixture
async def database_url(databases: DatabaseFactory) -> str:
    """A freshly migrated database of this test's own."""
    return await databases.migrated()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        database_url=Secret(database_url),
        data_dir=tmp_path / "data",
        jwt_secret=Secret(TEST_JWT_SECRET),
        ws_auth_timeout=1.0,
        sensay_timeout=1.5,
        redis_prefix=f"test-{uuid.uuid4().hex}",  # rate-limit counters of one test, should it turn Redis on
    )


@pytest.fixture
def replica() -> LocalReplica:
    """The local replica the server talks to over HTTP; tests turn its knobs."""
    return create_local_replica(organization_secret="test-organization-secret")


@pytest.fixture
async def server(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    """Base URL of a real uvicorn server running the app on the test's database."""
    app = create_app(settings, replica=replica)
    async with run_server(app, ws_max_size=settings.ws_max_frame_bytes) as url:
        yield url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        yield client


@pytest.fixture
async def alice(http: httpx.AsyncClient) -> dict:
    return await signup_and_login(http, "alice@example.com")


@pytest.fixture
async def bob(http: httpx.AsyncClient) -> dict:
    return await signup_and_login(http, "bob@example.com")


def bearer(login: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {login['access_token']}"}
