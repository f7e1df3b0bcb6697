"""Sensay's refusals and waits as the user sees them: own codes, ``retryable`` and text that agree on both
transports, and a wait that does not fit the reply's budget failing at once with ``retry_after``."""

from __future__ import annotations

import httpx

from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect


async def test_quota_refusal_reaches_the_socket_with_its_own_code_and_no_retry(
    server: str, alice: dict, replica: LocalReplica
) -> None:
    """A spent quota is `replica_quota_exceeded`, not retryable, with the frame's id; Sensay is asked once."""
    replica.fail_next(5, 429, error_code="KNOWLEDGE_BASE_CUSTOM_QUOTA_EXCEEDED")
    frame = {"type": "chat.send", "id": "q-1", "replica_id": ADA_LOVELACE_UUID, "content": "one more please"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        error, _ = await tab.recv_until("error", timeout=10)
    assert (error["code"], error.get("retryable", False), error["id"]) == ("replica_quota_exceeded", False, "q-1")
    assert "again" not in error["message"] or "will not help" in error["message"]
    assert replica.chat_requests == 1


async def test_a_long_retry_after_fails_at_once_with_the_wait(server: str, alice: dict, replica: LocalReplica) -> None:
    """A Retry-After beyond the reply's budget is not waited out: the error frame says how long to wait."""
    replica.fail_next(1, 429, retry_after=45)
    frame = {"type": "chat.send", "id": "w-1", "replica_id": ADA_LOVELACE_UUID, "content": "are you busy"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        error, _ = await tab.recv_until("error", timeout=10)
    assert (error["code"], error["retryable"], error["retry_after"]) == ("replica_unavailable", True, 45)
    assert replica.chat_requests == 1


async def test_rest_and_socket_agree_on_a_refusal(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """A policy refusal over REST is 422 `replica_policy_refused`, not retryable, its text inviting no retry."""
    replica.fail_next(1, 403, error_code="CONTENT_POLICY")
    body = {"replica_id": ADA_LOVELACE_UUID, "content": "something refused", "client_id": "r-1"}
    response = await http.post("/api/conversations", json=body, headers=bearer(alice))
    problem = response.json()
    assert response.status_code == 422 and problem["code"] == "replica_policy_refused"
    assert problem["retryable"] is False and "will not help" in problem["detail"]
    assert problem["message"]["content"] == "something refused"


async def test_rest_gives_the_wait_as_retry_after(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """Over REST, a wait beyond the reply's budget is a 503 `replica_unavailable` with `Retry-After`."""
    replica.fail_next(1, 429, retry_after=45)
    body = {"replica_id": ADA_LOVELACE_UUID, "content": "later then", "client_id": "w-2"}
    response = await http.post("/api/conversations", json=body, headers=bearer(alice))
    assert response.status_code == 503 and response.headers["Retry-After"] == "45"
    problem = response.json()
    assert problem["code"] == "replica_unavailable" and problem["retryable"] is True
    assert "send the same client_id again" in problem["detail"]
    assert replica.chat_requests == 1
