"""The embedded PostgreSQL: a server from the ``pgserver`` wheel, kept in a data directory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


@asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[str]:
    """Start (or attach to) the embedded server in ``data_dir/pg`` and yield its connection URL.

    pgserver shares one postmaster between every process that opens the same directory and stops
    it when the last one lets go, so two ``serve`` processes on one data dir are safe.
    """
    import pgserver  # imported here: production deployments never load it

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = await asyncio.to_thread(pgserver.get_server, pgdata, cleanup_mode="stop")
    logger.info("embedded PostgreSQL running in %s", pgdata)
    try:
        yield server.get_uri()
    finally:
        await asyncio.to_thread(server.cleanup)
