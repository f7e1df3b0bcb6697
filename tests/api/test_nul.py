"""NUL, which PostgreSQL text cannot store, is refused as a validation error on both transports, never a 500."""

from __future__ import annotations

import logging

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import bearer
from ..utils import connect

NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("method", "path", "body", "authenticated"),
    [
        ("POST", "/api/auth/signup", {"email": f"x{NUL}@example.com", "password": "correct horse battery"}, False),
        ("POST", "/api/auth/login", {"email": "x@example.com", "password": f"pass{NUL}word"}, False),
        ("POST", "/api/tasks", {"description": NUL}, True),
        ("POST", "/api/conversations", {"replica_id": ADA_LOVELACE_UUID, "content": NUL}, True),
        ("POST", "/api/conversations", {"replica_id": ADA_LOVELACE_UUID, "content": "hi", "client_id": NUL}, True),
        ("POST", "/api/conversations", {"replica_id": NUL, "content": "hi"}, True),
        ("POST", "/api/rooms", {"name": NUL, "replica_ids": [ADA_LOVELACE_UUID]}, True),
        ("GET", "/api/conversations?replica_id=%00", None, True),
        ("GET", "/api/tasks/%00", None, True),
        (
            "POST",
            "/api/prototype/task-memory/actions",
            {"action": "chat", "params": {"content": f"add task {NUL}"}},
            True,
        ),
    ],
)
async def test_nul_in_any_rest_string_is_422(
    http: httpx.AsyncClient,
    alice: dict,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict | None,
    authenticated: bool,
) -> None:
    """Bodies, query strings and paths holding NUL answer 422 validation_error, and nothing is logged as an error."""
    headers = bearer(alice) if authenticated else {}
    with caplog.at_level(logging.ERROR):
        response = await http.request(method, path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error" and "NUL" in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_literal_backslash_u0000_is_ordinary_text(http: httpx.AsyncClient, alice: dict) -> None:
    """The six characters \\u0000 (an escaped backslash in JSON) are text, stored as sent."""
    created = await http.post("/api/tasks", json={"description": "\\u0000 is fine"}, headers=bearer(alice))
    assert created.status_code == 201 and created.json()["description"] == "\\u0000 is fine"


async def test_nul_in_socket_frames_is_invalid_frame_with_the_frame_id(
    server: str, alice: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """chat.send and room.send holding NUL get invalid_frame with their id; the socket stays open."""
    with caplog.at_level(logging.ERROR):
        async with connect(server, alice["access_token"]) as tab:
            frames = [
                {"type": "chat.send", "id": "c-1", "replica_id": ADA_LOVELACE_UUID, "content": NUL},
                {"type": "chat.send", "id": "c-2", "replica_id": NUL, "content": "hi"},
                {"type": "room.send", "id": "r-1", "room_id": "6f1c2a9e-0b7d-4c3e-9a51-2d8e7f4b1c60", "content": NUL},
            ]
            for frame in frames:
                await tab.send(frame)
                error = await tab.recv()
                assert error["type"] == "error" and error["code"] == "invalid_frame", error
                assert error["id"] == frame["id"] and "NUL" in error["message"]
            await tab.send({"type": "ping", "id": f"p{NUL}"})
            error = await tab.recv()
            assert error["code"] == "invalid_frame" and "id" not in error, "an id holding NUL is not echoed"
            await tab.send({"type": "ping", "id": "still-open"})
            assert (await tab.recv()) == {"type": "pong", "id": "still-open"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
