"""The ``voice_calls`` table: mock phone calls between a user and a replica."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from .errors import NotFound
from .records import from_row
from .users import Executor

CallStatus = Literal["active", "ended"]
_COLUMNS = "id, replica_id, status, started_at, ended_at, duration_seconds"


class VoiceCall(msgspec.Struct, frozen=True):
    id: UUID
    replica_id: str
    status: CallStatus
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None


async def start_call(db: Executor, user_id: UUID, replica_id: str) -> VoiceCall:
    row = await db.fetchrow(
        f"INSERT INTO voice_calls (user_id, replica_id) VALUES ($1, $2) RETURNING {_COLUMNS}", user_id, replica_id
    )
    return from_row(VoiceCall, row)


async def get_call(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall:
    """The user's call; :class:`NotFound` for an unknown id or another user's call."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM voice_calls WHERE id = $1 AND user_id = $2", call_id, user_id)
    if row is None:
        raise NotFound("call not found")
    return from_row(VoiceCall, row)


async def end_call(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall | None:
    """End an active call, measuring its duration; ``None`` when it is not active (or not the user's)."""
    row = await db.fetchrow(
        f"""
        UPDATE voice_calls
        SET status = 'ended', ended_at = now(), duration_seconds = extract(epoch FROM now() - started_at)
        WHERE id = $1 AND user_id = $2 AND status = 'active'
        RETURNING {_COLUMNS}
        """,
        call_id,
        user_id,
    )
    return from_row(VoiceCall, row) if row else None


async def list_calls(db: Executor, user_id: UUID, limit: int = 50) -> list[VoiceCall]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM voice_calls WHERE user_id = $1 ORDER BY started_at DESC, id LIMIT $2",
        user_id,
        limit,
    )
    return [from_row(VoiceCall, row) for row in rows]
