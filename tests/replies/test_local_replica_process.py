"""``sensay-hub local-replica``: the local replica as its own process, paced and counting chat calls per message."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID
from tests.services import free_port

SECRET = "standalone-replica-secret-0b7d"
WORD_DELAY = 0.05


@pytest.fixture(scope="module")
def replica_url() -> Iterator[str]:
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "SENSAY_API_KEY": SECRET, "LOCAL_REPLICA_WORD_DELAY": str(WORD_DELAY)}
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "local-replica", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/local/chats", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the local replica process exited"
                assert time.monotonic() < deadline, "the local replica process never listened"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def headers(user: str | None = None) -> dict[str, str]:
    found = {"X-ORGANIZATION-SECRET": SECRET, "X-API-Version": "2025-03-25"}
    return found | ({"X-USER-ID": user} if user else {})


def test_counts_chat_calls_per_message_and_paces_words(replica_url: str) -> None:
    """Each chat completion is counted under its message; streamed words come at least the word delay apart."""
    user = str(uuid.uuid4())
    with httpx.Client(base_url=replica_url, timeout=10) as http:
        assert http.get("/local/chats").status_code == 401
        assert http.post("/v1/users", json={"id": user}, headers=headers()).status_code in (200, 201)
        path = f"/v1/replicas/{ADA_LOVELACE_UUID}/chat/completions"
        start = time.monotonic()
        lines = []
        stream_headers = headers(user) | {"Accept": "text/event-stream"}
        with http.stream("POST", path, json={"content": "hello there"}, headers=stream_headers) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line.startswith("0:")]
        elapsed = time.monotonic() - start
        assert http.post(path, json={"content": "and again"}, headers=headers(user)).status_code == 200
        counts = http.get("/local/chats", headers=headers()).json()

    assert len(lines) > 3
    assert elapsed >= (len(lines) - 1) * WORD_DELAY  # the words were paced by the setting
    mine = {m["content"]: m["count"] for m in counts["messages"] if m["user_id"] == user}
    assert mine == {"hello there": 1, "and again": 1}
