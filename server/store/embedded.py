"""The embedded PostgreSQL: a server from the ``pgserver`` wheel, kept in a data directory."""

from __future__ import annotations

import asyncio
import tempfile
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


@asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[str]:
    """Start (or attach to) the embedded server in ``data_dir/pg`` and yield its connection URL.

    pgserver shares one postmaster between every process that opens the same directory and stops
    it when the last one lets go, so two ``serve`` processes on one data dir are safe.
    """
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = await asyncio.to_thread(_start, pgdata)
    try:
        yield server.get_uri()
    finally:
        await asyncio.to_thread(server.cleanup)


def _start(pgdata: Path) -> PostgresServer:
    """Start or attach to the server, quietly: pgserver logs initdb's output at INFO (kept out by the log
    configuration) and platformdirs warns about a missing ``XDG_RUNTIME_DIR`` that pgserver never needs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # raised when pgserver is imported
        from pgserver.postgres_server import get_server  # imported here: production deployments never load it

        return get_server(pgdata, cleanup_mode="stop")


async def answers(dsn: str) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``dsn`` (within two seconds)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def running_or_temporary(dsn: str, *, prefix: str = "sensay-hub-pg-") -> AsyncIterator[str]:
    """The server at ``dsn`` if it answers, else a throw-away embedded one (for tests and benchmarks)."""
    if await answers(dsn):
        yield dsn
        return
    from pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = await asyncio.to_thread(get_server, tmp, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            await asyncio.to_thread(server.cleanup)


def with_database(dsn: str, database: str) -> str:
    """The same server, another database (works for TCP and unix-socket DSNs)."""
    base, _, query = dsn.partition("?")
    head, _, _old = base.rpartition("/")
    return f"{head}/{database}" + (f"?{query}" if query else "")
