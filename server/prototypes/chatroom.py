"""Chatroom: several users and replicas in one room. Rooms are made over ``/api/rooms`` and run on the socket.

A run that reaches a conclusion (the speakers agree, the room's goal is met, a vote decides) is recorded by the
rooms service (:mod:`server.rooms.conclusions`) for every member as a record of this prototype, so each of them
hears of it on all their sockets through the change feed, even when not in the room, and finds it here later.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ..store import rooms
from .base import Context, Prototype

ID = "chatroom"


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The rooms the user belongs to or created, newest first."""
    return {"rooms": await rooms.list_rooms(ctx.pool, user_id)}


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
