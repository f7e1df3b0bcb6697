"""The ``sessions`` table: one row per login, revoked on logout."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from .records import Session, from_row
from .users import Executor

_COLUMNS = "id, user_id, expires_at, revoked_at"


async def create_session(db: Executor, user_id: UUID, refresh_hash: bytes, expires_at: datetime) -> Session:
    row = await db.fetchrow(
        f"INSERT INTO sessions (user_id, refresh_token_hash, expires_at) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
        user_id,
        refresh_hash,
        expires_at,
    )
    return from_row(Session, row)


async def rotate_refresh_token(db: Executor, old_hash: bytes, new_hash: bytes, expires_at: datetime) -> Session | None:
    """Swap a live session's refresh token for a new one; ``None`` when the old one is unknown or dead."""
    row = await db.fetchrow(
        f"""
        UPDATE sessions SET refresh_token_hash = $2, refreshed_at = now(), expires_at = $3
        WHERE refresh_token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
        RETURNING {_COLUMNS}
        """,
        old_hash,
        new_hash,
        expires_at,
    )
    return from_row(Session, row) if row else None


async def revoke_session(db: Executor, session_id: UUID, user_id: UUID) -> bool:
    """Revoke one of the user's sessions; ``False`` when it was not live."""
    status = await db.execute(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        session_id,
        user_id,
    )
    return status != "UPDATE 0"


async def session_is_live(db: Executor, session_id: UUID, user_id: UUID) -> bool:
    return bool(
        await db.fetchval(
            "SELECT true FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()",
            session_id,
            user_id,
        )
    )
