"""A PostgreSQL server for the tests: the one at 127.0.0.1:5432 when it answers, else an embedded one.

Like asyncpg's own test base: use the running server, else start a temporary one. Each test gets a
database of its own, cloned from a migrated template, and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from server.store.embedded import running_or_temporary, with_database
from server.store.migrate import migrate

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def shared_dsn() -> str:
    """The running server's admin DSN the tests try first."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)


@asynccontextmanager
async def postgres_server() -> AsyncIterator[str]:
    """Yield an admin DSN (one that may CREATE DATABASE)."""
    async with running_or_temporary(shared_dsn(), prefix="sensay-hub-test-pg-") as dsn:
        yield dsn


class DatabaseFactory:
    """Creates migrated, throw-away databases quickly by cloning a template.

    Dropping a database makes PostgreSQL checkpoint, so a test's database is dropped in the background once the test
    is done (:meth:`release`), and whatever is left is dropped after the session, outside any test's time limit.
    """

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.prefix = f"shtest_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []
        self._dropping: set[asyncio.Task[None]] = set()

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

    def release(self, dsn: str) -> None:
        """Drop a database the test no longer uses, in the background."""
        name = dsn.partition("?")[0].rpartition("/")[2]
        task = asyncio.create_task(self._drop(name))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _drop(self, name: str) -> None:
        try:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"could not drop test database {name}: {exc!r}", file=sys.stderr)
            return
        self.created.remove(name)

    async def settle(self, timeout: float) -> list[str]:
        """Wait (bounded) for background drops; return the databases still to drop, the template included."""
        if self._dropping:
            _, pending = await asyncio.wait(list(self._dropping), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return [*self.created, self.template]

    @staticmethod
    async def drop(admin_dsn: str, names: list[str]) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
