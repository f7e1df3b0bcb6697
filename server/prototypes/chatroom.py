"""Chatroom: several users and replicas in one room. Rooms are made over ``/api/rooms`` and run on the socket."""

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
    summary="One room, several users and several replicas; the mode (natural, topic, moderated, round_robin, "
    "adversarial) decides which replica speaks next, for a bounded number of turns. Create rooms with "
    "POST /api/rooms and talk in them over the WebSocket.",
    state=state,
)
