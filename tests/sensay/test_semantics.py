"""What Sensay's answers mean to the client: refusals are final, waits must fit, a chat is never sent twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest
import pytest_asyncio

from server.sensay.client import SensayClient, build_http_client
from server.sensay.errors import SensayQuotaExceeded, SensayRateLimited, SensayRefused, SensayUnavailable
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from .conftest import SECRET


@pytest_asyncio.fixture
async def client(served: tuple[LocalReplica, str]) -> AsyncIterator[SensayClient]:
    async with build_http_client(served[1], timeout=5.0) as http:
        yield SensayClient(http, organization_secret=SECRET, backoff_base=0.001, backoff_cap=0.005)


@pytest_asyncio.fixture
async def user_id(client: SensayClient) -> str:
    user = str(uuid.uuid4())
    await client.ensure_user(user)
    return user


async def stream(client: SensayClient, user_id: str, content: str, **options: Any) -> str:
    async with aclosing(client.chat_stream(user_id, ADA_LOVELACE_UUID, content, **options)) as deltas:
        return "".join([delta async for delta in deltas])


@pytest.mark.parametrize("streamed", [False, True])
async def test_quota_refusal_is_not_retried(
    client: SensayClient, replica: LocalReplica, user_id: str, streamed: bool
) -> None:
    """A 429 naming a spent quota fails at once, typed and not retryable."""
    replica.fail_next(5, 429, error_code="KNOWLEDGE_BASE_CUSTOM_QUOTA_EXCEEDED")
    with pytest.raises(SensayQuotaExceeded) as caught:
        await (stream(client, user_id, "more") if streamed else client.chat(user_id, ADA_LOVELACE_UUID, "more"))
    assert not caught.value.retryable and caught.value.status == 429
    assert replica.chat_requests == 1


@pytest.mark.parametrize(("status", "code"), [(403, "FORBIDDEN"), (400, "CONTENT_POLICY_VIOLATION")])
async def test_policy_refusal_is_not_retried(
    client: SensayClient, replica: LocalReplica, user_id: str, status: int, code: str
) -> None:
    """A 403, or an error code naming a content policy, is a refusal: typed, raised once."""
    replica.fail_next(5, status, error_code=code)
    with pytest.raises(SensayRefused) as caught:
        await client.chat(user_id, ADA_LOVELACE_UUID, "something Sensay will not say")
    assert not caught.value.retryable
    assert replica.chat_requests == 1


async def test_retry_after_beyond_the_deadline_fails_at_once(
    client: SensayClient, replica: LocalReplica, user_id: str
) -> None:
    """A Retry-After longer than the time left is not waited out: the error carries the wait."""
    replica.fail_next(1, 429, retry_after=30)
    deadline = asyncio.get_running_loop().time() + 5
    with pytest.raises(SensayRateLimited) as caught:
        await asyncio.wait_for(stream(client, user_id, "busy?", deadline=deadline), timeout=4)
    assert caught.value.retryable and caught.value.retry_after == 30
    assert replica.chat_requests == 1


async def test_retry_after_within_the_deadline_is_honoured(
    client: SensayClient, replica: LocalReplica, user_id: str
) -> None:
    """A Retry-After that fits is waited out, and the retry answers."""
    replica.fail_next(1, 429, retry_after=0.2)
    deadline = asyncio.get_running_loop().time() + 5
    assert "patient" in await client.chat(user_id, ADA_LOVELACE_UUID, "patient", deadline=deadline)
    assert replica.chat_requests == 2


async def test_a_chat_sensay_kept_is_not_sent_again(client: SensayClient, replica: LocalReplica, user_id: str) -> None:
    """A stream dropped before its first word, after Sensay took the message in, is not re-sent."""
    replica.fail_next(1, after_words=0)
    with pytest.raises(SensayUnavailable):
        await stream(client, user_id, "only once please")
    assert replica.chat_requests == 1
    assert replica.said_to(user_id, ADA_LOVELACE_UUID) == ["only once please"]


async def test_a_lost_answer_is_taken_from_the_history(
    client: SensayClient, replica: LocalReplica, user_id: str
) -> None:
    """When Sensay answered but the response was lost, its answer comes from the chat history, with no resend."""
    replica.lose_next(1)
    answer = await stream(client, user_id, "what did you say")
    assert "what did you say" in answer
    replica.lose_next(1)
    assert "and now" in await client.chat(user_id, ADA_LOVELACE_UUID, "and now")
    assert replica.chat_requests == 2
    assert replica.said_to(user_id, ADA_LOVELACE_UUID) == ["what did you say", "and now"]


async def test_a_chat_sensay_never_took_in_is_sent_again(
    client: SensayClient, replica: LocalReplica, user_id: str
) -> None:
    """A 500 before Sensay kept the message is retried (the history shows it never arrived)."""
    replica.fail_next(1, 500)
    assert "fresh" in await stream(client, user_id, "fresh")
    assert replica.chat_requests == 2
    assert replica.said_to(user_id, ADA_LOVELACE_UUID) == ["fresh"]


async def test_out_of_history_chat_is_not_sent_again_when_it_may_have_arrived(
    client: SensayClient, replica: LocalReplica, user_id: str
) -> None:
    """A ``skip_chat_history`` message cannot be looked up, so a drop after sending is final."""
    replica.fail_next(1, after_words=0)
    with pytest.raises(SensayUnavailable):
        await stream(client, user_id, "aside", skip_chat_history=True)
    assert replica.chat_requests == 1


async def test_connection_refused_is_retried(replica: LocalReplica) -> None:
    """A request that never left (connection refused) is safe to send again (and fails typed at the end)."""
    async with build_http_client("http://127.0.0.1:9", timeout=1.0) as http:
        client = SensayClient(http, organization_secret=SECRET, max_retries=1, backoff_base=0.001)
        with pytest.raises(SensayUnavailable) as caught:
            await client.chat("someone", ADA_LOVELACE_UUID, "hello")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
