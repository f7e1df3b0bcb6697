"""No reply failure is silent: whatever breaks (here the database, for real), the audience hears it with the
asking frame's id and a code from the error table, the log has the traceback, and a retry works."""

from __future__ import annotations

import logging

import asyncpg
import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID

from ..conftest import bearer
from ..rooms.test_rooms import make_room, until_turns_end
from ..utils import connect

NO_CHAT_REPLIES = "ALTER TABLE conversations ADD CONSTRAINT refuse_replies CHECK (sender <> 'replica') NOT VALID"
NO_ROOM_REPLIES = "ALTER TABLE room_messages ADD CONSTRAINT refuse_replies CHECK (sender <> 'replica') NOT VALID"


async def execute(database_url: str, sql: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pipeline_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "server.replies.pipeline" and r.exc_info is not None]


async def test_a_chat_reply_that_cannot_be_stored_is_reported_and_can_be_retried(
    server: str, http: httpx.AsyncClient, alice: dict, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The sockets get internal_error with the client id, REST a 500 problem with the stored message; a retry works."""
    await execute(database_url, NO_CHAT_REPLIES)
    frame = {"type": "chat.send", "id": "c-1", "replica_id": ADA_LOVELACE_UUID, "content": "hello engine"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        ack = await tab.recv()
        assert ack["type"] == "ack"
        error, _ = await tab.recv_until("error")
    assert error["code"] == "internal_error" and error["id"] == "c-1" and error["retryable"] is True
    assert error["stream"] == f"chat:{ADA_LOVELACE_UUID}"
    assert pipeline_failures(caplog), "the failure is logged with its traceback"

    body = {"replica_id": SOCRATES_UUID, "content": "what is virtue", "client_id": "rest-1"}
    answer = await http.post("/api/conversations", json=body, headers=bearer(alice))
    problem = answer.json()
    assert answer.status_code == 500 and problem["code"] == "internal_error"
    assert problem["message"]["client_id"] == "rest-1" and problem["message"]["seq"] == 1

    await execute(database_url, "ALTER TABLE conversations DROP CONSTRAINT refuse_replies")
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        again = await tab.recv()
        assert again["type"] == "ack" and again["duplicate"] is True
        reply, _ = await tab.recv_until("message")
    assert reply["message"]["sender"] == "replica" and reply["message"]["reply_to"] == ack["message_id"]


async def test_a_room_turn_that_cannot_be_stored_stops_the_run_and_tells_the_room(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict, database_url: str
) -> None:
    """Every member sees the error (with the asking message's client id) and the run ends stopped."""
    room = await make_room(http, alice, [bob], mode="round_robin")
    await execute(database_url, NO_ROOM_REPLIES)
    async with connect(server, alice["access_token"]) as alice_tab, connect(server, bob["access_token"]) as bob_tab:
        for tab in (alice_tab, bob_tab):
            await tab.send({"type": "room.join", "room_id": room["id"]})
            await tab.recv_until("room.presence")
        await alice_tab.send({"type": "room.send", "id": "r-1", "room_id": room["id"], "content": "hello"})
        for tab in (alice_tab, bob_tab):
            end, frames = await until_turns_end(tab)
            errors = [f for f in frames if f["type"] == "error"]
            assert [(e["code"], e["id"]) for e in errors] == [("internal_error", "r-1")]
            assert end["state"] == "stopped" and end["turns"] == 0
