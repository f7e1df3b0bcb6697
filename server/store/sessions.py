"""The ``sessions`` table: one row per login, revoked on logout or when a refresh token is reused."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import asyncpg

from .records import Session, from_row
from .users import Executor

_COLUMNS = "id, user_id, expires_at, revoked_at, refresh_counter"


class Refresh(enum.Enum):
    """What presenting refresh token number N of a session did."""

    ROTATED = "rotated"  # N was the newest: the counter moved on to N + 1
    REISSUED = "reissued"  # an allowed reuse: the newest number is handed out again, the counter stays
    REUSED = "reused"  # any other old N: the session is revoked, and every token of it with it
    NOT_FOUND = "not_found"  # no such session, logged out, or an N this server never issued
    EXPIRED = "expired"  # the session's refresh lifetime ran out


async def create_session(db: Executor, user_id: UUID, expires_at: datetime) -> Session:
    row = await db.fetchrow(
        f"INSERT INTO sessions (user_id, expires_at) VALUES ($1, $2) RETURNING {_COLUMNS}", user_id, expires_at
    )
    return from_row(Session, row)


async def use_refresh_token(
    pool: asyncpg.Pool, session_id: UUID, counter: int, *, expires_at: datetime, reuse_interval: float
) -> tuple[Refresh, Session | None]:
    """Apply GoTrue's rotation rules to token number ``counter`` of a session, atomically.

    The token just before the newest (a client that lost the last answer) and any older one presented within
    ``reuse_interval`` seconds of the session's last refresh (tabs refreshing at once) get the newest number
    again; any other old one revokes the session. The returned session carries the number to hand out.
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS}, refreshed_at, now() AS now FROM sessions WHERE id = $1 FOR UPDATE", session_id
        )
        if row is None or row["revoked_at"] is not None or counter > row["refresh_counter"]:
            return Refresh.NOT_FOUND, None
        if row["expires_at"] <= row["now"]:
            return Refresh.EXPIRED, None
        current = row["refresh_counter"]
        if counter == current:
            updated = await conn.fetchrow(
                "UPDATE sessions SET refresh_counter = refresh_counter + 1, refreshed_at = now(), expires_at = $2"
                f" WHERE id = $1 RETURNING {_COLUMNS}",
                session_id,
                expires_at,
            )
            return Refresh.ROTATED, from_row(Session, updated)
        since_refresh = (row["now"] - row["refreshed_at"]).total_seconds()
        if counter == current - 1 or since_refresh < reuse_interval:
            return Refresh.REISSUED, from_row(Session, row)
        revoked = await conn.fetchrow(
            f"UPDATE sessions SET revoked_at = now() WHERE id = $1 RETURNING {_COLUMNS}", session_id
        )
        return Refresh.REUSED, from_row(Session, revoked)


async def revoke_sessions(
    db: Executor, user_id: UUID, *, only: UUID | None = None, keep: UUID | None = None
) -> list[UUID]:
    """Revoke the user's live sessions (just ``only``, or all but ``keep``); the ids that were revoked."""
    rows = await db.fetch(
        """
        UPDATE sessions SET revoked_at = now()
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
          AND ($2::uuid IS NULL OR id = $2) AND ($3::uuid IS NULL OR id <> $3)
        RETURNING id
        """,
        user_id,
        only,
        keep,
    )
    return [row["id"] for row in rows]


async def session_is_live(db: Executor, session_id: UUID, user_id: UUID) -> bool:
    return bool(
        await db.fetchval(
            "SELECT true FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()",
            session_id,
            user_id,
        )
    )
