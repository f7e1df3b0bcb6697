"""Backup and restore of the embedded database with its own ``pg_dump`` and ``pg_restore``.

A backup is one ``pg_dump`` archive (custom format) of the database: taken in one snapshot, so it is consistent
while hubs keep writing. A restore loads it into the empty database of a fresh data directory, in one transaction
(all or nothing). An external database (``DATABASE_URL``) is backed up with its own tools; these refuse it.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Final

import asyncpg

from .embedded import embedded_postgres, postgres_bin_dir

API_ROLES: Final = ("anon", "authenticated")
"""Cluster-wide roles the database's grants and policies name (made by migration 060); a dump holds no roles."""
TOOL_TIMEOUT: Final = 3600.0


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why."""


async def backup(data_dir: Path, file: Path) -> int:
    """Dump the embedded database in ``data_dir`` (running or not) to ``file``; the archive's size in bytes."""
    bin_dir = postgres_bin_dir(data_dir / "pg")
    async with embedded_postgres(data_dir) as dsn:
        await _run(bin_dir / "pg_dump", "--format=custom", f"--file={file}", f"--dbname={dsn}")
    return (await asyncio.to_thread(file.stat)).st_size


async def restore(data_dir: Path, file: Path) -> None:
    """Load ``file`` (made by :func:`backup`) into the embedded database of a fresh ``data_dir``."""
    if not await asyncio.to_thread(file.is_file):
        raise BackupError(f"{file}: no such file")
    async with embedded_postgres(data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
                raise BackupError(
                    f"{data_dir} already holds a database: restore into a fresh DATA_DIR (or move this one away)"
                )
            for role in API_ROLES:
                if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                    await conn.execute(f'CREATE ROLE "{role}" NOLOGIN NOINHERIT')
                    await conn.execute(f'GRANT "{role}" TO CURRENT_USER')
        finally:
            await conn.close()
        bin_dir = postgres_bin_dir(data_dir / "pg")
        await _run(bin_dir / "pg_restore", "--single-transaction", "--exit-on-error", f"--dbname={dsn}", str(file))


async def _run(tool: Path, *args: str) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tool), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )

    done = await asyncio.to_thread(run)
    if done.returncode != 0:
        raise BackupError(f"{tool.name} failed (exit {done.returncode}): {done.stderr.strip()}")
