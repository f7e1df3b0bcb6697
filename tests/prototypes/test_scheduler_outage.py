"""The due-work scheduler logs a database outage once when it starts and once when it ends, however many sweeps
and rounds meet it in between (it logged one line per sweep per round: five a second during an outage)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from server.prototypes.scheduler import Scheduler


async def test_an_outage_is_logged_when_it_starts_and_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    down = {"rounds": 3}
    settled: list[str] = []

    async def tasks(ctx: Any) -> int:
        if down["rounds"]:
            raise ConnectionRefusedError(111, "Connection refused")  # what asyncpg raises while PostgreSQL is down
        settled.append("tasks")
        return 1

    async def calls(ctx: Any) -> int:
        if down["rounds"]:
            down["rounds"] -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        settled.append("calls")
        return 1

    scheduler = Scheduler(None, [tasks, calls], interval=60)  # type: ignore[arg-type]  # the sweeps read no context
    with caplog.at_level(logging.WARNING, logger="server.prototypes.scheduler"):
        for _ in range(4):
            await scheduler.run_once()
        assert await scheduler.run_once() == 2
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("due work waits for the database (ConnectionRefusedError")
    assert lines[1] == "the database answers again: due work is swept again"
    assert settled == ["tasks", "calls", "tasks", "calls"]
