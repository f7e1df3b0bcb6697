"""The ``voice_numbers`` table: each user's verified phone number, and the number waiting for its code.

A verified number is unique across users (its unique index); a pending one reserves nothing. A code is kept as a
hash with its expiry and the attempts made on it; codes sent are counted per user in a rolling window.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from .users import Executor


class NumberTaken(Exception):
    """Another user has verified this number."""


class VoiceNumber(msgspec.Struct, frozen=True):
    number: str | None
    """The verified number: inbound calls from it skip the PIN."""
    verified_at: datetime | None
    pending_number: str | None
    """The number a code was sent to, until the code is given."""
    code_expires_at: datetime | None


class PendingCode(msgspec.Struct, frozen=True):
    pending_number: str
    code_hash: bytes
    expired: bool
    attempts: int
    """Attempts made on this code, this one included."""


_EMPTY = VoiceNumber(None, None, None, None)


async def get(db: Executor, user_id: UUID) -> VoiceNumber:
    row = await db.fetchrow(
        "SELECT number, verified_at, pending_number, code_expires_at FROM voice_numbers WHERE user_id = $1", user_id
    )
    return VoiceNumber(**dict(row)) if row is not None else _EMPTY


async def verified_number(db: Executor, user_id: UUID) -> str | None:
    value: str | None = await db.fetchval("SELECT number FROM voice_numbers WHERE user_id = $1", user_id)
    return value


async def owner_of(db: Executor, number: str) -> UUID | None:
    value: UUID | None = await db.fetchval("SELECT user_id FROM voice_numbers WHERE number = $1", number)
    return value


async def start_claim(
    db: Executor, user_id: UUID, number: str, code_hash: bytes, ttl_seconds: float, max_codes: int, window: float
) -> VoiceNumber | None:
    """Keep ``code_hash`` for ``number`` (replacing any earlier claim and its attempts); ``None`` when the user
    was sent ``max_codes`` codes within the last ``window`` seconds."""
    row = await db.fetchrow(
        """
        INSERT INTO voice_numbers AS v (user_id, pending_number, code_hash, code_expires_at, codes_sent)
        VALUES ($1, $2, $3, now() + make_interval(secs => $4), 1)
        ON CONFLICT (user_id) DO UPDATE SET
            pending_number = excluded.pending_number,
            code_hash = excluded.code_hash,
            code_expires_at = excluded.code_expires_at,
            code_attempts = 0,
            codes_sent = CASE WHEN v.window_start > now() - make_interval(secs => $6) THEN v.codes_sent + 1 ELSE 1 END,
            window_start = CASE WHEN v.window_start > now() - make_interval(secs => $6) THEN v.window_start
                           ELSE now() END
        WHERE v.window_start <= now() - make_interval(secs => $6) OR v.codes_sent < $5
        RETURNING number, verified_at, pending_number, code_expires_at
        """,
        user_id,
        number,
        code_hash,
        ttl_seconds,
        max_codes,
        window,
    )
    return VoiceNumber(**dict(row)) if row is not None else None


async def window_ends(db: Executor, user_id: UUID, window: float) -> datetime | None:
    """When the user may be sent a code again."""
    value: datetime | None = await db.fetchval(
        "SELECT window_start + make_interval(secs => $2) FROM voice_numbers WHERE user_id = $1", user_id, window
    )
    return value


async def use_attempt(db: Executor, user_id: UUID, max_attempts: int) -> PendingCode | None:
    """Count one attempt on the user's pending code; ``None`` when there is none or its attempts are spent."""
    row = await db.fetchrow(
        """
        UPDATE voice_numbers SET code_attempts = code_attempts + 1
        WHERE user_id = $1 AND pending_number IS NOT NULL AND code_attempts < $2
        RETURNING pending_number, code_hash, code_expires_at <= now() AS expired, code_attempts AS attempts
        """,
        user_id,
        max_attempts,
    )
    return PendingCode(**dict(row)) if row is not None else None


async def confirm(db: Executor, user_id: UUID, number: str, code_hash: bytes) -> VoiceNumber | None:
    """The pending ``number`` becomes the user's verified one; ``None`` when the claim changed meanwhile (a new
    code was sent), :class:`NumberTaken` if another user has the number."""
    try:
        row = await db.fetchrow(
            """
            UPDATE voice_numbers SET number = $2, verified_at = now(), pending_number = NULL, code_hash = NULL,
                code_expires_at = NULL, code_attempts = 0
            WHERE user_id = $1 AND pending_number = $2 AND code_hash = $3
            RETURNING number, verified_at, pending_number, code_expires_at
            """,
            user_id,
            number,
            code_hash,
        )
    except asyncpg.UniqueViolationError:
        raise NumberTaken(number) from None
    return VoiceNumber(**dict(row)) if row is not None else None


async def remove(db: Executor, user_id: UUID) -> bool:
    """Forget the user's verified number and any pending one; whether there was one."""
    row = await db.fetchrow(
        "UPDATE voice_numbers SET number = NULL, verified_at = NULL, pending_number = NULL, code_hash = NULL,"
        " code_expires_at = NULL, code_attempts = 0 WHERE user_id = $1"
        " AND (number IS NOT NULL OR pending_number IS NOT NULL) RETURNING user_id",
        user_id,
    )
    return row is not None
