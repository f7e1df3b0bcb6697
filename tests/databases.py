"""A PostgreSQL server for the tests: the one at 127.0.0.1:5432 when it answers, else an embedded one.

Like asyncpg's own test base: use the running server, else start a temporary one. Each test gets a
database of its own, cloned from a migrated template, and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from server.store.embedded import running_or_temporary, with_database
from server.store.migrate import migrate

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def postgres_server() -> AsyncIterator[str]:
    """Yield an admin DSN (one that may CREATE DATABASE)."""
    async with running_or_temporary(
        os.environ.get("TEST_DATABASE_URL", DEFAULT_URL), prefix="sensay-hub-test-pg-"
    ) as dsn:
        yield dsn


class DatabaseFactory:
    """Creates migrated, throw-away databases quickly by cloning a template."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.prefix = f"shtest_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def empty(self) -> str:
        """A new database with no tables at all."""
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_database(self.admin_dsn, name)

    async def prepare_template(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.template}"')
        await migrate(with_database(self.admin_dsn, self.template))

    async def migrated(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return with_database(self.admin_dsn, name)

    async def drop_all(self, *, connections: int = 8) -> None:
        """Drop every database made, over a few connections at once: one by one, the hundreds a full run makes
        take longer than the last test's teardown may."""
        names = [*self.created, self.template]
        self.created.clear()

        async def drop_share(share: list[str]) -> None:
            conn = await asyncpg.connect(self.admin_dsn)
            try:
                for name in share:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        await asyncio.gather(*(drop_share(names[i::connections]) for i in range(connections)))
