"""How a room's run concluded, recorded for every member as a record of the Chatroom prototype."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..store import interactions, rooms
from ..store.records import Room

CHATROOM = "chatroom"
"""The prototype whose records a conclusion joins (``server.prototypes.chatroom.ID``: services do not import
each other)."""
CONCLUSION = "conclusion"


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
