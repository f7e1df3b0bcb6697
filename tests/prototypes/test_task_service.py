"""One tasks service behind ``/api/tasks`` and the MCP task tools: a task given a due time that has come wakes the
scheduler, so its reminder does not wait for the next sweep (here a minute away), whichever way it was added."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.config import Settings

from ..conftest import bearer
from ..utils import WsClient, connect
from .test_mcp_server import call, mcp_session

WAIT = 15.0
"""Well below the sweep interval: a reminder within it was sent because the scheduler was woken."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, scheduler_interval=60.0)


async def reminder(tab: WsClient) -> dict[str, Any]:
    frame, _ = await tab.recv_until("prototype.event", timeout=WAIT)
    assert frame["event"] == "reminder", frame
    return frame


async def test_a_due_task_added_over_rest_is_reminded_at_once(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """POST /api/tasks with a due time already past: the reminder arrives long before the next sweep."""
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    async with connect(server, alice["access_token"]) as tab:
        created = await http.post(
            "/api/tasks", json={"description": "water plants", "due_at": past}, headers=bearer(alice)
        )
        assert created.status_code == 201
        assert (await reminder(tab))["data"]["description"] == "water plants"


async def test_a_due_task_added_over_mcp_is_reminded_at_once(server: str, alice: dict) -> None:
    """The MCP ``add_task`` tool goes through the same service: its due task wakes the scheduler too (it used to
    write the table itself and wait for the next sweep)."""
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    async with connect(server, alice["access_token"]) as tab, mcp_session(server, alice["access_token"]) as session:
        added = await call(session, "add_task", description="call the plumber", due_at=past)
        assert added["task"]["description"] == "call the plumber"
        assert (await reminder(tab))["data"]["description"] == "call the plumber"
