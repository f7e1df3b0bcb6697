"""Chatroom: several users and replicas in one room. Rooms are made over ``/api/rooms`` and run on the socket.

A run that reaches a conclusion (the speakers agree, the room's goal is met, a vote decides) is recorded for
every member, so each of them hears of it on all their sockets through the change feed, even when not in the
room, and finds it later in this prototype's records.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from ..store import interactions, rooms
from ..store.records import Room
from .base import Context, Prototype

ID = "chatroom"
CONCLUSION = "conclusion"


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The rooms the user belongs to or created, newest first."""
    return {"rooms": await rooms.list_rooms(ctx.pool, user_id)}


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
            await interactions.record(conn, member, ID, CONCLUSION, details)


PROTOTYPE = Prototype(
    id=ID,
    name="Chatroom",
    summary="One room, several users and several replicas; the mode (natural, topic, problem_solving, "
    "knowledge_sharing, creative, moderated, democratic, six_thinking_hats, swot, adversarial, round_robin) "
    "decides which replica speaks next; a run ends when its phases are done, at its turn or time limit, or when "
    "the judge finds consensus or the room's goal met. Create rooms with POST /api/rooms and talk in them over "
    "the WebSocket; conclusions are recorded here for every member.",
    state=state,
)
