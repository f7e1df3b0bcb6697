"""How a room's run concluded, recorded for every member as a record of the Chatroom prototype."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from ..errors import DomainError
from ..store import interactions, rooms
from ..store.records import Room
from .asking import transcript

CHATROOM = "chatroom"
"""The prototype whose records a conclusion joins (``server.prototypes.chatroom.ID``: services do not import
each other)."""
CONCLUSION = "conclusion"
RECORD_MARGIN = 2.0
"""Seconds of a run's time limit kept for recording its conclusion after asking for its summary."""


def summary_question(ending: str, turns: Sequence[tuple[str, str]]) -> str:
    """What the replica that sums up a concluded run is asked (a side question: not a turn of the room)."""
    return (
        f"The room's run has ended ({ending}). Here is what was said in this run:\n{transcript(turns)}\n"
        "For the room's members, sum up in two or three sentences what was discussed and what was concluded."
    )


async def sum_up(
    ask: Callable[[str, str, str], Awaitable[str]],
    asker: str,
    replica_id: str,
    ending: str,
    turns: Sequence[tuple[str, str]],
    seconds_left: float,
) -> str:
    """A concluded run's summary, asked of ``replica_id``; empty if it could not answer (the conclusion stands).

    It must not cost the run its conclusion: it gets what is left of the run's time limit (``seconds_left``), less
    :data:`RECORD_MARGIN` for recording the conclusion."""
    try:
        async with asyncio.timeout(max(0.0, seconds_left - RECORD_MARGIN)):
            return (await ask(asker, replica_id, summary_question(ending, turns))).strip()
    except (DomainError, TimeoutError):
        return ""


async def record_conclusion(
    pool: asyncpg.Pool, room: Room, *, run_id: str, ending: str, summary: str, turns: int, **detail: Any
) -> None:
    """Record how a run concluded, once for every member of the room (in one transaction)."""
    details = {
        "room_id": room.id,
        "room_name": room.name,
        "mode": room.mode,
        "run_id": run_id,
        "ending": ending,
        "summary": summary,
        "turns": turns,
        **detail,
    }
    async with pool.acquire() as conn, conn.transaction():
        for member in await rooms.members(conn, room.id):
            await interactions.record(conn, member, CHATROOM, CONCLUSION, details)
