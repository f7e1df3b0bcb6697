"""The replica directory remembers what Sensay said of a replica for a while, and never a failure."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from server.errors import ReplicaNotFound
from server.replies import ReplicaDirectory
from server.sensay.client import SensayClient, build_http_client
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica, create_local_replica, serve_local_replica

SECRET = "directory-test-secret"
GET_REPLICA = "GET /v1/replicas/{replicaUUID}"


@pytest_asyncio.fixture
async def sensay() -> AsyncIterator[tuple[LocalReplica, SensayClient]]:
    replica = create_local_replica(organization_secret=SECRET)
    async with serve_local_replica(replica) as url, build_http_client(url) as http:
        yield replica, SensayClient(http, organization_secret=SECRET, max_retries=0)


async def test_a_replica_is_asked_for_once_per_ttl(sensay: tuple[LocalReplica, SensayClient]) -> None:
    """Lookups within the TTL are answered from memory; after it Sensay is asked again."""
    replica, client = sensay
    now = [0.0]
    directory = ReplicaDirectory(client, ttl=60, clock=lambda: now[0])
    asker = str(uuid.uuid4())
    assert {(await directory.require(asker, ADA_LOVELACE_UUID)).name for _ in range(5)} == {"Ada Lovelace"}
    assert replica.requests[GET_REPLICA] == 1
    now[0] += 61
    assert await directory.name(asker, ADA_LOVELACE_UUID) == "Ada Lovelace"
    assert replica.requests[GET_REPLICA] == 2


async def test_a_failed_lookup_is_not_remembered(sensay: tuple[LocalReplica, SensayClient]) -> None:
    """An unknown replica is asked for again each time."""
    replica, client = sensay
    directory = ReplicaDirectory(client)
    unknown, asker = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(ReplicaNotFound):
            await directory.require(asker, unknown)
    assert replica.requests[GET_REPLICA] == 2
