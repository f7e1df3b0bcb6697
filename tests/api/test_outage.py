"""A PostgreSQL outage (a private server, stopped and started again): 503 with Retry-After on REST, a retryable
error frame on the socket, no traceback, and recovery once the database is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..services import PrivatePostgres
from ..utils import connect, run_server, signup_and_login


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    pg = PrivatePostgres()
    await pg.start()
    try:
        yield pg
    finally:
        await pg.close()


async def test_an_outage_is_503_and_a_retryable_error_then_recovers(
    private_postgres: PrivatePostgres, settings: Settings, replica: LocalReplica, caplog: pytest.LogCaptureFixture
) -> None:
    """While PostgreSQL is down REST answers 503 not_ready (Retry-After, keep-alive kept) and the socket a
    retryable not_ready error with the frame's id; afterwards the same requests succeed."""
    configured = replace(settings, database_url=Secret(private_postgres.url))
    async with run_server(create_app(configured, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        alice = await signup_and_login(http, "outage@example.com")
        async with connect(url, alice["access_token"]) as tab:
            await private_postgres.stop()
            with caplog.at_level(logging.WARNING):
                for method, path, body in [("GET", "/api/tasks", None), ("POST", "/api/tasks", {"description": "x"})]:
                    down = await http.request(method, path, json=body, headers=bearer(alice))
                    assert down.status_code == 503, down.text
                    assert down.json()["code"] == "not_ready" and down.headers["retry-after"] == "5"
                assert (await http.get("/readyz")).status_code == 503
                send = {"type": "chat.send", "id": "during", "replica_id": ADA_LOVELACE_UUID, "content": "hello?"}
                await tab.send(send)
                error, _ = await tab.recv_until("error")
                assert error["code"] == "not_ready" and error["retryable"] is True and error["id"] == "during"
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an outage is no server error"

            await private_postgres.start()
            async with asyncio.timeout(30):
                while (await http.get("/api/tasks", headers=bearer(alice))).status_code != 200:
                    await asyncio.sleep(0.1)  # the pool replaces its broken connections on use
            await tab.send(send)  # the same id again: now stored and answered
            ack, _ = await tab.recv_until("ack")
            assert ack["id"] == "during" and ack["seq"] == 1 and not ack.get("duplicate")
