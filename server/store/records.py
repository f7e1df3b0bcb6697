"""Typed rows returned by the repositories; msgspec encodes them straight to JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar
from uuid import UUID

import asyncpg
import msgspec

from protocol import MAX_ID_LENGTH, StoredMessage, chat_stream, room_stream

TaskStatus = Literal["pending", "in_progress", "completed"]
Sender = Literal["user", "replica"]


class User(msgspec.Struct, frozen=True):
    id: UUID
    email: str
    created_at: datetime


class Session(msgspec.Struct, frozen=True):
    id: UUID
    user_id: UUID
    expires_at: datetime
    revoked_at: datetime | None = None
    refresh_counter: int = 0


class Task(msgspec.Struct, frozen=True):
    id: UUID
    user_id: UUID
    description: str
    status: TaskStatus
    created_at: datetime
    updated_at: datetime
    number: int
    """How chat names the task ("task 3"): given once per user, counting up, never moved nor given again."""
    due_at: datetime | None = None
    reminded_at: datetime | None = None


class Message(msgspec.Struct, frozen=True):
    """One stored chat message: the user's or the replica's."""

    id: UUID
    user_id: UUID
    replica_id: str
    seq: int
    sender: Sender
    message: str
    timestamp: datetime
    client_id: str | None = None
    reply_to: UUID | None = None

    def wire(self) -> StoredMessage:
        """The message as clients see it, on the socket and over REST (the columns are named as the seed has them)."""
        return StoredMessage(
            id=str(self.id),
            stream=chat_stream(self.replica_id),
            seq=self.seq,
            sender=self.sender,
            content=self.message,
            created_at=self.timestamp.isoformat(),
            user_id=str(self.user_id) if self.sender == "user" else None,
            replica_id=self.replica_id,
            client_id=self.client_id,
            reply_to=str(self.reply_to) if self.reply_to else None,
        )


class Interaction(msgspec.Struct, frozen=True):
    id: UUID
    user_id: UUID
    prototype: str
    interaction_type: str
    details: dict[str, Any]
    created_at: datetime
    n: int | None = None
    """Position in the owner's records (the ``before`` cursor of a page); set where a page is read."""


S = TypeVar("S", bound=msgspec.Struct)


def from_row(cls: type[S], row: asyncpg.Record | None) -> S:
    """Build a record from an asyncpg ``Record`` (columns named like the fields); JSON columns become structs."""
    assert row is not None, "from_row needs a row"
    return msgspec.convert({name: row[name] for name in cls.__struct_fields__}, cls)


RoomMode = Literal[
    "natural",
    "round_robin",
    "topic",
    "problem_solving",
    "knowledge_sharing",
    "creative",
    "moderated",
    "democratic",
    "six_thinking_hats",
    "swot",
    "adversarial",
]
MAX_TURNS: Final = 40
MAX_TIME_LIMIT: Final = 600.0


class RoomSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A room's settings (the ``rooms.settings`` JSON column), decoded once when the row is read.

    A setting left out takes its mode's default (``server.rooms.modes``).
    """

    max_turns: (
        Annotated[int, msgspec.Meta(ge=1, le=MAX_TURNS, description="Replica turns per run (default: the mode's).")]
        | None
    ) = None
    time_limit_seconds: (
        Annotated[
            float,
            msgspec.Meta(gt=0, le=MAX_TIME_LIMIT, description="Seconds a run may take (default: 60, or 20 per turn)."),
        ]
        | None
    ) = None
    topic: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="Required in `topic` mode.")] | None
    ) = None
    moderator_id: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH, description="The moderator or lead.")]
        | None
    ) = None
    goal: (
        Annotated[
            str, msgspec.Meta(min_length=1, max_length=300, description="A run ends when the judge finds it met.")
        ]
        | None
    ) = None
    consensus: (
        Annotated[bool, msgspec.Meta(description="A run ends when the judge finds the speakers agree.")] | None
    ) = None
    judge_id: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH, description="The replica that judges.")]
        | None
    ) = None


class Room(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    created_by: UUID
    mode: RoomMode
    replica_ids: list[str]
    settings: RoomSettings
    is_open: bool
    last_seq: int
    created_at: datetime


class RoomMessage(msgspec.Struct, frozen=True):
    id: UUID
    room_id: UUID
    seq: int
    sender: Sender
    message: str
    created_at: datetime
    user_id: UUID | None = None
    replica_id: str | None = None
    client_id: str | None = None
    reply_to: UUID | None = None

    def wire(self) -> StoredMessage:
        """The message as clients see it, on the socket and over REST."""
        return StoredMessage(
            id=str(self.id),
            stream=room_stream(str(self.room_id)),
            seq=self.seq,
            sender=self.sender,
            content=self.message,
            created_at=self.created_at.isoformat(),
            user_id=str(self.user_id) if self.user_id else None,
            replica_id=self.replica_id,
            room_id=str(self.room_id),
            client_id=self.client_id,
            reply_to=str(self.reply_to) if self.reply_to else None,
        )
