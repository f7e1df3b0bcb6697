"""The migration runner on real databases, and the promises the shipped schema makes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from server.store import migrate as migrate_module
from server.store.database import create_pool, readiness
from server.store.migrate import Migration, available_migrations, migrate

from ..databases import DatabaseFactory

# Columns named like ids that hold ids of things outside our database, so they are text, not uuid.
EXTERNAL_IDS = {
    "replica_id",  # Sensay's replica ids
    "client_id",  # chosen by the client for idempotent sends
}


@asynccontextmanager
async def connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def recorded(dsn: str) -> list[tuple[int, str]]:
    async with connection(dsn) as conn:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    return [(row["version"], row["name"]) for row in rows]


def shipped() -> list[tuple[int, str]]:
    return [(m.version, m.name) for m in available_migrations()]


def test_shipped_migrations_are_numbered_and_non_empty() -> None:
    """The package ships at least one migration, in strictly increasing order, none empty."""
    migrations = available_migrations()
    assert migrations
    versions = [m.version for m in migrations]
    assert versions == sorted(set(versions))
    assert all(m.sql.strip() for m in migrations)


async def test_applies_every_migration_in_order_and_records_it(databases: DatabaseFactory) -> None:
    """On an empty database every migration is applied, in version order, and recorded in schema_migrations."""
    dsn = await databases.empty()
    applied = await migrate(dsn)
    assert [(m.version, m.name) for m in applied] == shipped()
    assert await recorded(dsn) == shipped()
    async with connection(dsn) as conn:
        applied_at = await conn.fetch("SELECT applied_at FROM schema_migrations ORDER BY version")
    times = [row["applied_at"] for row in applied_at]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


async def test_second_run_applies_nothing(databases: DatabaseFactory) -> None:
    """Running the migrations again on a migrated database applies nothing and changes no record."""
    dsn = await databases.empty()
    await migrate(dsn)
    before = await recorded(dsn)
    assert await migrate(dsn) == []
    assert await recorded(dsn) == before


async def test_concurrent_runners_apply_each_migration_exactly_once(databases: DatabaseFactory) -> None:
    """Four runners started at once on one empty database apply each migration once between them, without error."""
    dsn = await databases.empty()
    results = await asyncio.wait_for(asyncio.gather(*(migrate(dsn) for _ in range(4))), timeout=60)
    applied = sorted((m.version, m.name) for result in results for m in result)
    assert applied == shipped()
    assert sum(1 for result in results if result) == 1
    assert await recorded(dsn) == shipped()


async def test_failing_migration_rolls_back_entirely(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails half-way leaves neither its changes nor a record, and releases the lock."""
    dsn = await databases.empty()
    broken = Migration(999, "broken", "CREATE TABLE x(); SELECT 1/0;")
    real = available_migrations()
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*real, broken])

    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(dsn)

    # Each migration has its own transaction: the good ones before the broken one stay applied.
    assert await recorded(dsn) == shipped()
    async with connection(dsn) as conn:
        assert await conn.fetchval("SELECT to_regclass('public.x')") is None

    monkeypatch.undo()
    assert await asyncio.wait_for(migrate(dsn), timeout=10) == []


async def test_readiness_reports_pending_migrations_until_migrated(databases: DatabaseFactory) -> None:
    """readiness() names the pending migrations on an empty database and is None once it is migrated."""
    dsn = await databases.empty()
    pool = await create_pool(dsn, max_size=2)
    try:
        assert await readiness(pool) == f"{len(available_migrations())} migration(s) not applied"
        await migrate(dsn)
        assert await readiness(pool) is None
    finally:
        await pool.close()


async def test_every_timestamp_column_has_a_time_zone(database_url: str) -> None:
    """Every timestamp-like column in the public schema is timestamp with time zone."""
    async with connection(database_url) as conn:
        rows = await conn.fetch(
            """
            SELECT table_name, column_name, data_type
            FROM information_schema.columns
            WHERE table_schema = 'public'
              AND (data_type LIKE 'timestamp%' OR data_type IN ('date', 'time without time zone')
                   OR column_name = 'timestamp' OR column_name LIKE '%\\_at')
            """
        )
    assert rows
    wrong = [
        f"{r['table_name']}.{r['column_name']}: {r['data_type']}"
        for r in rows
        if r["data_type"] != "timestamp with time zone"
    ]
    assert wrong == []


async def test_every_id_column_is_a_uuid(database_url: str) -> None:
    """Every id, *_id and foreign-key column is uuid, except ids that come from outside the database."""
    async with connection(database_url) as conn:
        named = await conn.fetch(
            """
            SELECT table_name, column_name, data_type
            FROM information_schema.columns
            WHERE table_schema = 'public' AND (column_name = 'id' OR column_name LIKE '%\\_id')
            """
        )
        foreign = await conn.fetch(
            """
            SELECT c.table_name, c.column_name, c.data_type
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage k
              ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
            JOIN information_schema.columns c
              ON c.table_schema = k.table_schema AND c.table_name = k.table_name AND c.column_name = k.column_name
            WHERE tc.table_schema = 'public' AND tc.constraint_type = 'FOREIGN KEY'
            """
        )
    columns = {(r["table_name"], r["column_name"]): r["data_type"] for r in [*named, *foreign]}
    wrong = [
        f"{table}.{column}: {data_type}"
        for (table, column), data_type in sorted(columns.items())
        if column not in EXTERNAL_IDS and data_type != "uuid"
    ]
    assert wrong == []
    with_id = {table for table, column in columns if column == "id"}
    assert {"users", "sessions", "conversations", "tasks"} <= with_id


async def test_conversations_have_a_unique_index_on_user_and_client_id(database_url: str) -> None:
    """A unique index on conversations (user_id, client_id) makes client message ids idempotent per user."""
    async with connection(database_url) as conn:
        rows = await conn.fetch(
            """
            SELECT ix.indisunique AS is_unique,
                   array_agg(a.attname::text ORDER BY k.ord) AS columns
            FROM pg_index ix
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE n.nspname = 'public' AND t.relname = 'conversations'
            GROUP BY ix.indexrelid, ix.indisunique
            """
        )
    unique = [list(r["columns"]) for r in rows if r["is_unique"]]
    assert ["user_id", "client_id"] in unique
