"""Acting as a Supabase API caller: a transaction under the role ``anon`` or ``authenticated`` with the caller's JWT
claims set, as PostgREST and Realtime do, so the row-level-security policies decide what the caller sees and changes.

Migration 060 gives plain PostgreSQL the roles, ``auth.uid()``, ``auth.role()`` and ``auth.jwt()``; Supabase has them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

STATEMENT_TIMEOUTS = {"anon": "3s", "authenticated": "8s"}
"""Supabase's defaults for its API roles: a caller's query is cancelled (57014) after this long."""

API_ROLES = frozenset(STATEMENT_TIMEOUTS)
"""The roles a caller may act as; any other ``role`` claim (``service_role``, a forged ``postgres``) acts as anon."""


def api_role(claims: Mapping[str, Any]) -> str:
    """The database role the claims act as: ``authenticated`` only for a signed-in user's claims."""
    role = claims.get("role")
    return role if isinstance(role, str) and role in API_ROLES and (role == "anon" or claims.get("sub")) else "anon"


@asynccontextmanager
async def _connection(
    db: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy,
) -> AsyncIterator[asyncpg.Connection | PoolConnectionProxy]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


@asynccontextmanager
async def acting_as(
    db: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy, claims: Mapping[str, Any]
) -> AsyncIterator[asyncpg.Connection | PoolConnectionProxy]:
    """A connection in a transaction acting as ``claims``: ``SET LOCAL ROLE`` and ``request.jwt.claims``.

    Everything is local to the transaction, so the connection goes back to the pool as the server's own. Queries
    are cancelled after Supabase's statement timeout for the role (:data:`STATEMENT_TIMEOUTS`). The single-claim
    settings (``request.jwt.claim.sub``, ``.role``) are set too, for policies written before
    PostgREST 9.
    """
    role = api_role(claims)
    sub = claims.get("sub") if role == "authenticated" else None
    async with _connection(db) as conn, conn.transaction():
        await conn.execute(
            """
            SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
                set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true),
                set_config('statement_timeout', $4, true)
            """,
            role,
            json.dumps(dict(claims), default=str),
            str(sub) if sub is not None else "",
            STATEMENT_TIMEOUTS[role],
        )
        yield conn


async def api_roles_ready(db: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy) -> bool:
    """Whether this server's login role may act as both API roles (false where migration 060 could not make them)."""
    async with _connection(db) as conn:
        return bool(
            await conn.fetchval(
                """
                SELECT count(*) = 2 FROM pg_roles
                WHERE rolname IN ('anon', 'authenticated') AND pg_has_role(current_user, oid, 'MEMBER')
                """
            )
        )
