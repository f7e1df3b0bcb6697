"""The asyncpg pool, with JSON codecs and metrics, and the database's readiness check."""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from .. import metrics
from .migrate import pending_migrations

DEFAULT_STATEMENT_CACHE = 100
"""asyncpg's default; a transaction pooler needs 0 (its server connections change between statements)."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _release(conn: asyncpg.Connection) -> None:
    """Nothing to reset on release: asyncpg itself rolls back an open transaction first.

    asyncpg's default reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) is a round trip on
    every release, a sixth of the hub's CPU on the message path; pooled connections hold no session state to
    undo (LISTEN and the migration lock use connections of their own).
    """


class _TimedAcquire:
    """asyncpg's acquire context, timing the wait for a connection (asyncpg has no hook for it)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: PoolAcquireContext) -> None:
        self._inner = inner

    async def __aenter__(self) -> PoolConnectionProxy:
        start = time.perf_counter()
        try:
            return await self._inner.__aenter__()
        finally:
            metrics.POOL_ACQUIRE.observe(time.perf_counter() - start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    def __await__(self) -> Generator[Any, None, PoolConnectionProxy]:
        return self.__aenter__().__await__()


class MeteredPool(asyncpg.Pool):
    """A pool whose ``acquire`` (which ``fetch``, ``execute`` and the rest go through) is timed."""

    def acquire(self, *, timeout: float | None = None) -> _TimedAcquire:  # type: ignore[override]
        return _TimedAcquire(super().acquire(timeout=timeout))


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 20, statement_cache_size: int = DEFAULT_STATEMENT_CACHE
) -> asyncpg.Pool:
    """Open a pool whose connections decode json/jsonb to Python objects, reported in the metrics."""
    pool = MeteredPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,  # asyncpg's defaults, which create_pool would pass
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        statement_cache_size=statement_cache_size,
        reset=_release,
    )
    await pool
    metrics.watch_pool(pool)
    return pool


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip to the database; raises what reaching it raised."""
    await pool.fetchval("SELECT 1")


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
