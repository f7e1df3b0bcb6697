"""What a replica is asked on its turn in a room: what was said since it last spoke, under the room's header, with
the room creator's context (memories, evolution) when it changed; the room acts at Sensay as its own user."""

from __future__ import annotations

import uuid
from typing import Final
from uuid import UUID

import asyncpg

from protocol import StoredMessage, room_stream

from ..context import briefing
from ..replies import ReplicaDirectory, ReplyJob, RoomAudience
from ..store import rooms
from ..store.records import Room
from . import asking
from .turns import Speak

KIND: Final = "room"
"""The reply pipeline's kind of a room turn."""
ROOM_USER_NAMESPACE: Final = uuid.UUID("6f1d3f4e-5b8a-4c1e-9a57-2f0e8c9d7b10")
TRANSCRIPT_LINES: Final = 12


def room_sensay_user(room_id: UUID) -> str:
    """The Sensay user a room acts as: one conversation per replica per room."""
    return str(uuid.uuid5(ROOM_USER_NAMESPACE, str(room_id)))


async def turn_job(
    pool: asyncpg.Pool,
    replicas: ReplicaDirectory,
    room: Room,
    speak: Speak,
    answering: StoredMessage,
    client_id: str | None,
) -> ReplyJob:
    """The reply job of ``speak``'s turn, answering ``answering`` (``client_id``: the asking frame's)."""
    asker = room_sensay_user(room.id)
    # The room is its creator's: the replica is told the creator's memories and evolution, when they changed.
    replica_id = speak.seat.replica_id
    briefed = await briefing.brief(pool, asker=asker, user_id=room.created_by, replica_id=replica_id)
    return ReplyJob(
        kind=KIND,
        asker=asker,
        replica_id=replica_id,
        prompt=briefing.prompt_with(briefed, await turn_prompt(pool, replicas, room, speak)),
        audience=RoomAudience(room.id),
        stream=room_stream(str(room.id)),
        reply_to=answering.id,
        client_id=client_id,
        briefing=briefed.sent,
    )


async def turn_prompt(pool: asyncpg.Pool, replicas: ReplicaDirectory, room: Room, speak: Speak) -> str:
    """What was said since this replica last spoke, under the room's header, then its instruction."""
    recent = await rooms.transcript(pool, room.id, TRANSCRIPT_LINES)
    lines: list[tuple[str, str]] = []
    for sender, email, replica_id, text in reversed(recent):
        if replica_id == speak.seat.replica_id:
            break
        if sender == "replica" and replica_id:
            who = await replicas.name(room_sensay_user(room.id), replica_id)
        else:  # the address's local part only: the prompt reaches Sensay and other members' screens
            who = (email or "someone").split("@", 1)[0]
        lines.append((who, text))
    settings = room.settings
    return asking.turn_prompt(
        room.name,
        room.mode,
        lines[::-1],
        speak.instruction,
        phase=speak.phase,
        topic=settings.topic,
        goal=settings.goal,
    )
