"""The local replica served over real HTTP, shared by the client and contract tests of one module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from server.sensay.local import LocalReplica, create_local_replica, serve_local_replica

SECRET = "org-secret-for-tests-5f2c9a"


@pytest_asyncio.fixture(scope="module")
async def served() -> AsyncIterator[tuple[LocalReplica, str]]:
    replica = create_local_replica(organization_secret=SECRET)
    async with serve_local_replica(replica) as base_url:
        yield replica, base_url


@pytest.fixture(autouse=True)
def replica(served: tuple[LocalReplica, str]) -> LocalReplica:
    """The shared local replica, with knobs and counters reset for each test."""
    replica = served[0]
    replica.clear_faults()
    replica.latency = 0.0
    replica.word_delay = 0.0
    replica.stream_style = "data"
    replica.reset_counters()
    return replica
