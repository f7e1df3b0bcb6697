"""The asyncpg pool, with JSON codecs, and the database's readiness check."""

from __future__ import annotations

import json

import asyncpg

from .migrate import pending_migrations


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 20) -> asyncpg.Pool:
    """Open a pool whose connections decode json/jsonb to Python objects."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


async def readiness(pool: asyncpg.Pool) -> str | None:
    """``None`` when the database answers and every migration is applied, else what is wrong."""
    try:
        async with pool.acquire(timeout=2.0) as conn:
            pending = await pending_migrations(conn)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"database unreachable: {type(exc).__name__}"
    if pending:
        return f"{len(pending)} migration(s) not applied"
    return None
