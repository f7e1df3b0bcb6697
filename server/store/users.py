"""The ``users`` table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .errors import Conflict
from .records import User, from_row

Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
"""Anything that runs a query: the pool, a connection, or a connection acquired from the pool."""


async def create_user(db: Executor, email: str, password_hash: str | None, user_id: UUID | None = None) -> User:
    """Insert a user; :class:`Conflict` when the email (case-insensitively) is taken."""
    try:
        row = await db.fetchrow(
            "INSERT INTO users (id, email, password_hash) VALUES (coalesce($1, gen_random_uuid()), $2, $3)"
            " RETURNING id, email, created_at",
            user_id,
            email,
            password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("email already registered") from exc
    return from_row(User, row)


async def get_user(db: Executor, user_id: UUID) -> User | None:
    row = await db.fetchrow("SELECT id, email, created_at FROM users WHERE id = $1", user_id)
    return from_row(User, row) if row else None


async def get_credentials(db: Executor, email: str) -> tuple[User, str | None] | None:
    """The user with this email and their password hash, or ``None``."""
    row = await db.fetchrow(
        "SELECT id, email, created_at, password_hash FROM users WHERE lower(email) = lower($1)", email
    )
    return (from_row(User, row), row["password_hash"]) if row else None


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
