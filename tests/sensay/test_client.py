"""SensayClient against the local replica, over real HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from server.sensay.client import ChatHistoryItem, Replica, SensayClient, build_http_client
from server.sensay.errors import (
    SensayAuthError,
    SensayBadRequest,
    SensayConflict,
    SensayError,
    SensayNotFound,
    SensayRateLimited,
    SensayUnavailable,
)
from server.sensay.local import (
    ADA_LOVELACE_UUID,
    SENSAY_GUIDE_UUID,
    SOCRATES_UUID,
    LocalReplica,
    StreamStyle,
)

from .conftest import SECRET

UNKNOWN_REPLICA = "00000000-0000-4000-8000-000000000000"
TRICKY = 'Engines, "looms" and\npoetry\u2028with ✨ and \\ backslashes'


@pytest.fixture
def base_url(served: tuple[LocalReplica, str]) -> str:
    return served[1]


@pytest_asyncio.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(base_url, timeout=5.0) as client:
        yield client


def make_client(http: httpx.AsyncClient, **options: Any) -> SensayClient:
    options.setdefault("organization_secret", SECRET)
    options.setdefault("backoff_base", 0.001)
    options.setdefault("backoff_cap", 0.005)
    return SensayClient(http, **options)


@pytest.fixture
def client(http: httpx.AsyncClient) -> SensayClient:
    return make_client(http)


@pytest.fixture
def user_id() -> str:
    return str(uuid.uuid4())


async def collect(stream: AsyncGenerator[str, None]) -> list[str]:
    async with aclosing(stream):
        return [delta async for delta in stream]


# users


async def test_ensure_user_creates_the_user_once(client: SensayClient, replica: LocalReplica, user_id: str) -> None:
    """The first call creates the user (2xx); later calls and chats send no further POST /v1/users."""
    await client.ensure_user(user_id, "Ada Fan")
    await client.ensure_user(user_id)
    await client.chat(user_id, ADA_LOVELACE_UUID, "hello")
    assert replica.has_user(user_id)
    assert replica.requests["POST /v1/users"] == 1


async def test_ensure_user_accepts_an_existing_user(
    http: httpx.AsyncClient, replica: LocalReplica, user_id: str
) -> None:
    """A 409 from POST /v1/users (created by another process) counts as success."""
    await make_client(http).ensure_user(user_id)
    other_process = make_client(http)
    await other_process.ensure_user(user_id)
    assert replica.requests["POST /v1/users"] == 2
    assert await other_process.chat(user_id, SOCRATES_UUID, "still me?")


async def test_ensure_user_cleans_names_sensay_would_reject(client: SensayClient, user_id: str) -> None:
    """Names are reduced to Sensay's allowed characters and 50 characters instead of failing the chat."""
    await client.ensure_user(user_id, "José 🚀 <admin> " + "x" * 80)
    assert await client.chat(user_id, SOCRATES_UUID, "hi")


# replicas


async def test_list_and_get_replicas(client: SensayClient, user_id: str) -> None:
    """The seeded replicas are listed and fetched as typed structs."""
    replicas = await client.list_replicas(user_id)
    assert {r.uuid for r in replicas} >= {ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID}
    assert all(isinstance(r, Replica) for r in replicas)

    socrates = await client.get_replica(user_id, SOCRATES_UUID)
    assert (socrates.name, socrates.slug) == ("Socrates", "socrates")
    assert socrates.short_description and socrates.greeting
    assert socrates.llm is not None and socrates.llm.system_message

    only = await client.list_replicas(user_id, slug="ada-lovelace")
    assert [r.name for r in only] == ["Ada Lovelace"]


async def test_create_replica_then_get_and_list(client: SensayClient, user_id: str) -> None:
    """A created replica is fetched by UUID, listed by owner, and its slug cannot be taken twice."""
    slug = f"hypatia-{user_id[:8]}"
    replica_id = await client.create_replica(
        user_id,
        name="Hypatia",
        slug=slug,
        short_description="Astronomer of Alexandria",
        greeting="Shall we look at the stars?",
        system_message="You are Hypatia.",
        tags=("Science",),
    )
    uuid.UUID(replica_id)
    fetched = await client.get_replica(user_id, replica_id)
    assert (fetched.name, fetched.slug, fetched.owner_id, fetched.tags) == ("Hypatia", slug, user_id, ("Science",))
    assert [r.uuid for r in await client.list_replicas(user_id, owner_id=user_id)] == [replica_id]
    assert "Hypatia" in await client.chat(user_id, replica_id, "What is a conic section?")

    with pytest.raises(SensayConflict) as caught:
        await client.create_replica(user_id, name="Other", slug=slug, short_description="x", greeting="y")
    assert caught.value.status == 409 and caught.value.request_id


# chat


async def test_chat_answers_in_character_and_keeps_history(client: SensayClient, user_id: str) -> None:
    """The answer mentions the message; the replica stores both sides and counts the turns."""
    first = await client.chat(user_id, ADA_LOVELACE_UUID, "What is a loom?")
    second = await client.chat(user_id, ADA_LOVELACE_UUID, "And an engine?")
    assert first.startswith("Ada Lovelace") and '"What is a loom?"' in first and "turn 1" in first
    assert '"And an engine?"' in second and "turn 2" in second

    history = await client.chat_history(user_id, ADA_LOVELACE_UUID)
    assert all(isinstance(item, ChatHistoryItem) and isinstance(item.created_at, datetime) for item in history)
    assert [(item.role, item.content) for item in history] == [
        ("user", "What is a loom?"),
        ("assistant", first),
        ("user", "And an engine?"),
        ("assistant", second),
    ]


async def test_chat_can_skip_history(client: SensayClient, user_id: str) -> None:
    """skip_chat_history=True leaves the history untouched."""
    await client.chat(user_id, SOCRATES_UUID, "ephemeral", skip_chat_history=True)
    assert await client.chat_history(user_id, SOCRATES_UUID) == []


@pytest.mark.parametrize("style", ["data", "sse"])
async def test_stream_deltas_concatenate_to_the_json_answer(
    client: SensayClient, replica: LocalReplica, style: StreamStyle
) -> None:
    """Both stream framings yield word deltas whose concatenation is exactly the JSON answer."""
    replica.stream_style = style
    expected = await client.chat(str(uuid.uuid4()), SENSAY_GUIDE_UUID, TRICKY)
    deltas = await collect(client.chat_stream(str(uuid.uuid4()), SENSAY_GUIDE_UUID, TRICKY))
    assert len(deltas) > 10
    assert "".join(deltas) == expected


async def test_stream_falls_back_to_a_json_answer(client: SensayClient, replica: LocalReplica, user_id: str) -> None:
    """When the server answers a stream request with JSON, the whole content is yielded once."""
    replica.stream_style = "json"
    deltas = await collect(client.chat_stream(user_id, SOCRATES_UUID, "Is virtue teachable?"))
    assert len(deltas) == 1 and '"Is virtue teachable?"' in deltas[0]


async def test_stream_yields_deltas_as_they_arrive(client: SensayClient, replica: LocalReplica, user_id: str) -> None:
    """The first delta reaches the caller while the replica has sent only one word: nothing waits for the rest."""
    release = replica.hold_streams(after_words=1)
    async with aclosing(client.chat_stream(user_id, ADA_LOVELACE_UUID, "timing")) as stream:
        first = await asyncio.wait_for(anext(stream), timeout=10)  # times out if the client waits for the end
        release.set()
        rest = [delta async for delta in stream]
    assert first and len(rest) > 20


# retries


async def test_retries_5xx_then_succeeds(client: SensayClient, replica: LocalReplica, user_id: str) -> None:
    """Two 500s are retried and the third attempt answers."""
    await client.ensure_user(user_id)
    replica.fail_next(2, 500)
    assert "retry me" in await client.chat(user_id, ADA_LOVELACE_UUID, "retry me")
    assert replica.chat_requests == 3


async def test_retries_429_honouring_retry_after(http: httpx.AsyncClient, replica: LocalReplica, user_id: str) -> None:
    """Retry-After wins over the (here huge) backoff."""
    client = make_client(http, backoff_base=60.0, backoff_cap=60.0)
    await client.ensure_user(user_id)
    replica.fail_next(1, 429, retry_after=0)
    assert await asyncio.wait_for(client.chat(user_id, SOCRATES_UUID, "patience"), timeout=5)
    assert replica.chat_requests == 2


@pytest.mark.parametrize(("status", "error_type"), [(500, SensayUnavailable), (429, SensayRateLimited)])
async def test_gives_up_after_max_retries(
    http: httpx.AsyncClient, replica: LocalReplica, user_id: str, status: int, error_type: type[SensayError]
) -> None:
    """After max_retries the typed, retryable error carries the last status and request id."""
    client = make_client(http, max_retries=2)
    await client.ensure_user(user_id)
    replica.fail_next(5, status)
    with pytest.raises(error_type) as caught:
        await client.chat(user_id, ADA_LOVELACE_UUID, "doomed")
    error = caught.value
    assert (error.status, error.retryable, error.error_code) == (status, True, "INJECTED_FAILURE")
    assert error.request_id and error.request_id.startswith("local::")
    assert replica.chat_requests == 3


@pytest.mark.parametrize(
    ("replica_id", "content", "error_type", "status"),
    [
        (ADA_LOVELACE_UUID, "", SensayBadRequest, 400),
        (ADA_LOVELACE_UUID, "x" * 100_001, SensayBadRequest, 400),
        (UNKNOWN_REPLICA, "hello", SensayNotFound, 404),
    ],
)
async def test_no_retry_on_client_errors(
    client: SensayClient,
    replica: LocalReplica,
    user_id: str,
    replica_id: str,
    content: str,
    error_type: type[SensayError],
    status: int,
) -> None:
    """400 and 404 raise at once, typed, with Sensay's request id."""
    with pytest.raises(error_type) as caught:
        await client.chat(user_id, replica_id, content)
    assert caught.value.status == status and not caught.value.retryable
    assert caught.value.request_id and caught.value.request_id.startswith("local::")
    assert replica.chat_requests == 1


async def test_no_retry_on_401(http: httpx.AsyncClient, replica: LocalReplica, user_id: str) -> None:
    """A wrong secret fails the first request (ensure_user) once, and no chat is sent."""
    client = make_client(http, organization_secret="wrong-secret")
    with pytest.raises(SensayAuthError) as caught:
        await client.chat(user_id, ADA_LOVELACE_UUID, "let me in")
    assert caught.value.status == 401 and caught.value.request_id
    assert "wrong-secret" not in str(caught.value)
    assert sum(replica.requests.values()) == 1 and replica.chat_requests == 0


async def test_stream_retries_before_the_first_delta(client: SensayClient, replica: LocalReplica, user_id: str) -> None:
    """A 5xx before any byte was yielded is retried for streams too."""
    await client.ensure_user(user_id)
    replica.fail_next(1, 502)
    assert "".join(await collect(client.chat_stream(user_id, SOCRATES_UUID, "again"))).startswith("Socrates")
    assert replica.chat_requests == 2


@pytest.mark.parametrize("style", ["data", "sse"])
async def test_stream_cut_midway_raises(
    client: SensayClient, replica: LocalReplica, user_id: str, style: StreamStyle
) -> None:
    """A dropped stream raises after the deltas already yielded: no silent truncation, no retry."""
    replica.stream_style = style
    await client.ensure_user(user_id)
    replica.fail_next(1, after_words=3)
    received: list[str] = []
    with pytest.raises(SensayUnavailable):
        async with aclosing(client.chat_stream(user_id, ADA_LOVELACE_UUID, "cut me off")) as stream:
            async for delta in stream:
                received.append(delta)
    assert len(received) == 3
    assert replica.chat_requests == 1


async def test_json_answer_cut_midway_is_not_sent_again(
    client: SensayClient, replica: LocalReplica, user_id: str
) -> None:
    """A JSON body cut short came from a Sensay that kept the message: it is not sent a second time."""
    await client.ensure_user(user_id)
    replica.fail_next(1, after_words=1)
    with pytest.raises(SensayUnavailable):
        await client.chat(user_id, ADA_LOVELACE_UUID, "whole")
    assert replica.chat_requests == 1
    assert replica.said_to(user_id, ADA_LOVELACE_UUID) == ["whole"]


async def test_timeout_raises_unavailable(base_url: str, replica: LocalReplica, user_id: str) -> None:
    """A replica that never answers ends in SensayUnavailable caused by an httpx timeout."""
    async with build_http_client(base_url, timeout=0.2) as http:
        client = make_client(http, max_retries=0)
        await client.ensure_user(user_id)
        replica.hang_next(1)
        with pytest.raises(SensayUnavailable) as caught:
            await client.chat(user_id, ADA_LOVELACE_UUID, "anyone there?")
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    assert caught.value.retryable


async def test_timeout_is_retried(base_url: str, replica: LocalReplica, user_id: str) -> None:
    """A timed-out attempt is retried (streams included, before their first delta)."""
    async with build_http_client(base_url, timeout=0.2) as http:
        client = make_client(http, max_retries=1)
        await client.ensure_user(user_id)
        replica.hang_next(1)
        assert await client.chat(user_id, ADA_LOVELACE_UUID, "second time lucky")
        replica.hang_next(1)
        assert await collect(client.chat_stream(user_id, ADA_LOVELACE_UUID, "stream lucky"))
    assert replica.chat_requests == 4


async def test_connection_refused_raises_unavailable(user_id: str) -> None:
    """Nothing listening: SensayUnavailable caused by httpx.ConnectError, after the retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with build_http_client(f"http://127.0.0.1:{port}", timeout=1.0) as http:
        with pytest.raises(SensayUnavailable) as caught:
            await make_client(http, max_retries=1).chat(user_id, ADA_LOVELACE_UUID, "hello?")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# concurrency and hygiene


async def test_concurrency_bound_is_respected(http: httpx.AsyncClient, replica: LocalReplica, user_id: str) -> None:
    """No more than max_concurrency requests are in flight at once."""
    client = make_client(http, max_concurrency=3)
    await client.ensure_user(user_id)
    replica.latency = 0.03
    answers = await asyncio.gather(*(client.chat(user_id, SOCRATES_UUID, f"question {i}") for i in range(12)))
    assert len(answers) == 12
    assert replica.max_inflight_chats == 3


async def test_abandoned_stream_releases_its_slot(http: httpx.AsyncClient, replica: LocalReplica, user_id: str) -> None:
    """Closing a stream early frees its concurrency slot for the next request."""
    client = make_client(http, max_concurrency=1)
    await client.ensure_user(user_id)
    replica.word_delay = 0.05
    async with aclosing(client.chat_stream(user_id, SOCRATES_UUID, "long answer please")) as stream:
        async for _ in stream:
            break
    replica.word_delay = 0.0
    assert await asyncio.wait_for(client.chat(user_id, SOCRATES_UUID, "next"), timeout=2)


def test_repr_masks_the_secret(client: SensayClient, replica: LocalReplica) -> None:
    """The organization secret never appears in the repr of the client or of the local replica."""
    assert SECRET not in repr(client) and "********" in repr(client)
    assert SECRET not in repr(replica) and replica.organization_secret == SECRET


def test_client_rejects_an_empty_secret(http: httpx.AsyncClient) -> None:
    """A client without a secret is a configuration error, caught at construction."""
    with pytest.raises(ValueError):
        SensayClient(http, organization_secret="")
