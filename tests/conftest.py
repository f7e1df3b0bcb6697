"""Shared fixtures: a real PostgreSQL, per-test databases, and a real running server."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
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

from .databases import DatabaseFactory, postgres_server, shared_dsn
from .services import PrivateRedis
from .utils import run_server, signup_and_login

TEST_JWT_SECRET = "test-secret-" + "x" * 40


_LEFTOVERS: list[tuple[str, list[str]]] = []
"""(admin DSN, database names) still to drop when the session ends."""


@pytest.fixture(scope="session")
async def databases() -> AsyncIterator[DatabaseFactory]:
    async with postgres_server() as admin_dsn:
        factory = DatabaseFactory(admin_dsn)
        await factory.prepare_template()
        try:
            yield factory
        finally:
            left = await factory.settle(timeout=10.0)
            if admin_dsn == shared_dsn():  # a temporary server goes away with everything in it
                _LEFTOVERS.append((admin_dsn, left))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop what the tests left on the shared server, after the last test (and outside its time limit)."""
    for admin_dsn, names in _LEFTOVERS:
        asyncio.run(DatabaseFactory.drop(admin_dsn, names))
    _LEFTOVERS.clear()


@pytest.fixture
async def database_url(databases: DatabaseFactory) -> AsyncIterator[str]:
    """A freshly migrated database of this test's own, dropped (in the background) after the test."""
    dsn = await databases.migrated()
    yield dsn
    databases.release(dsn)


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


SERIAL_GROUPS = {"chaos": Path(__file__).parent / "chaos"}
"""Tests that run one after another on a single xdist worker (``--dist loadgroup``), by group and directory: each
chaos test runs a cluster of hub processes, a replica and a Redis of its own, and two such clusters at once on a
2-core machine would turn its fault-injection waits into a test of the machine's load."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for group, directory in SERIAL_GROUPS.items():
            if item.path.is_relative_to(directory):
                item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories of this session's own, not under the per-user ``/tmp/pytest-of-<user>``: pytest makes that
    directory private (0700) whenever any session starts, which would lock a test's PostgreSQL (run as another user
    when the tests run as root) out of its data directory should another session start meanwhile."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):  # xdist gives its workers one
        config.option.basetemp = tempfile.mkdtemp(prefix="sensay-hub-pytest-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_unconfigure(config: pytest.Config) -> None:
    basetemp = config.stash.get(_OWN_BASETEMP, None)
    if basetemp is not None:
        shutil.rmtree(basetemp, ignore_errors=True)


@pytest.fixture(scope="session")
async def shared_redis() -> AsyncIterator[str]:
    """The URL of a Redis for tests of several processes sharing one: ``TEST_REDIS_URL`` when set (the test command
    starts a private one), else a private redis-server for this session. Never the one at 6379: tests keep their
    keys apart by a prefix of their own (``settings.redis_prefix``) and channels named by fresh ids."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; `python3 -m tests` installs it)")
    server = PrivateRedis()
    await server.start()
    try:
        yield server.url
    finally:
        await server.close()


@pytest.fixture
async def redis() -> AsyncIterator[PrivateRedis]:
    """A private redis-server on a free port, which a test may stop and start (the shared one at :6379 it may not)."""
    server = PrivateRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
