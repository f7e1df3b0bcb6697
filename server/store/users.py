"""The ``users`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from .errors import Conflict
from .records import User, from_row

Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
"""Anything that runs a query: the pool, a connection, or a connection acquired from the pool."""


class Profile(msgspec.Struct, frozen=True):
    """A user with everything Supabase Auth's user object shows (``/auth/v1/user``)."""

    id: UUID
    email: str
    created_at: datetime
    updated_at: datetime
    last_sign_in_at: datetime | None
    user_metadata: dict[str, Any]

    def user(self) -> User:
        return User(id=self.id, email=self.email, created_at=self.created_at)


_PROFILE = "id, email, created_at, updated_at, last_sign_in_at, user_metadata"


async def create_user(
    db: Executor,
    email: str,
    password_hash: str | None,
    user_id: UUID | None = None,
    metadata: dict[str, Any] | None = None,
) -> Profile:
    """Insert a user; :class:`Conflict` when the email (case-insensitively) is taken."""
    try:
        row = await db.fetchrow(
            "INSERT INTO users (id, email, password_hash, user_metadata)"
            " VALUES (coalesce($1, gen_random_uuid()), $2, $3, $4)"
            f" RETURNING {_PROFILE}",
            user_id,
            email,
            password_hash,
            metadata or {},
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("email already registered") from exc
    return from_row(Profile, row)


async def get_user(db: Executor, user_id: UUID) -> User | None:
    row = await db.fetchrow("SELECT id, email, created_at FROM users WHERE id = $1", user_id)
    return from_row(User, row) if row else None


async def get_profile(db: Executor, user_id: UUID) -> Profile | None:
    row = await db.fetchrow(f"SELECT {_PROFILE} FROM users WHERE id = $1", user_id)
    return from_row(Profile, row) if row else None


async def get_credentials(db: Executor, email: str) -> tuple[Profile, str | None] | None:
    """The user with this email and their password hash, or ``None``."""
    row = await db.fetchrow(f"SELECT {_PROFILE}, password_hash FROM users WHERE lower(email) = lower($1)", email)
    return (from_row(Profile, row), row["password_hash"]) if row else None


async def get_password_hash(db: Executor, user_id: UUID) -> str | None:
    return await db.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)  # type: ignore[no-any-return]


async def set_password_hash(db: Executor, user_id: UUID, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


# Keeps the upsert idempotent and lets a later, better ``created_at`` (Supabase's own) replace ``now()``.
_UPSERT_USER = """
INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, NULL, coalesce($3, now()))
ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, created_at = least(users.created_at, EXCLUDED.created_at)
RETURNING id, email, created_at
"""


async def upsert_user(db: Executor, user_id: UUID, email: str, created_at: datetime | None) -> User:
    """Insert or update the row of a user known to an outside identity provider (no password here).

    :class:`Conflict` when another user id holds the email.
    """
    try:
        row = await db.fetchrow(_UPSERT_USER, user_id, email, created_at)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("email already registered") from exc
    return from_row(User, row)


async def record_sign_in(db: Executor, user_id: UUID) -> None:
    await db.execute("UPDATE users SET last_sign_in_at = now() WHERE id = $1", user_id)


async def update_profile(
    db: Executor, user_id: UUID, *, password_hash: str | None = None, metadata: dict[str, Any] | None = None
) -> Profile | None:
    """Set a new password hash and/or merge ``metadata`` into ``user_metadata`` (a ``null`` value removes its key,
    as GoTrue does); ``None`` when the user is gone."""
    row = await db.fetchrow(
        f"""
        UPDATE users SET
            password_hash = coalesce($2, password_hash),
            user_metadata = CASE WHEN $3::jsonb IS NULL THEN user_metadata
                ELSE (user_metadata || $3::jsonb)
                     - ARRAY(SELECT key FROM jsonb_each($3::jsonb) WHERE value = 'null'::jsonb) END,
            updated_at = now()
        WHERE id = $1
        RETURNING {_PROFILE}
        """,
        user_id,
        password_hash,
        metadata,
    )
    return from_row(Profile, row) if row else None
