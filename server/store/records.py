"""Typed rows returned by the repositories; msgspec encodes them straight to JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

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


class Interaction(msgspec.Struct, frozen=True):
    id: UUID
    user_id: UUID
    prototype: str
    interaction_type: str
    details: dict[str, Any]
    created_at: datetime


def from_row(cls: type[msgspec.Struct], row: Any) -> Any:
    """Build a record from an asyncpg ``Record`` (columns named like the fields)."""
    return cls(**{name: row[name] for name in cls.__struct_fields__})


RoomMode = Literal["natural", "topic", "moderated", "round_robin", "adversarial"]


class Room(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    created_by: UUID
    mode: RoomMode
    replica_ids: list[str]
    settings: dict[str, Any]
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
