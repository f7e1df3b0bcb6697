"""Plain PostgreSQL gets Supabase's access model (migration 060), and ``acting_as`` lets the database decide.

What a user of /rest/v1 or /realtime/v1 would notice: their own rows and nobody else's, the anon key nothing at all,
and a hub that still runs when its login role is an ordinary table owner that may not create roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from server.store import tasks
from server.store.claims import acting_as, api_role, api_roles_ready
from server.store.embedded import with_database
from server.store.migrate import migrate

from ..databases import DatabaseFactory


def user_claims(user_id: uuid.UUID) -> dict[str, object]:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated", "email": "x@y.io"}


async def two_users(pool: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    alice = await pool.fetchval("INSERT INTO users (email) VALUES ('a@x.io') RETURNING id")
    bob = await pool.fetchval("INSERT INTO users (email) VALUES ('b@x.io') RETURNING id")
    await pool.execute("INSERT INTO tasks (user_id, description) VALUES ($1, 'alice''s'), ($2, 'bob''s')", alice, bob)
    await pool.execute(
        "INSERT INTO conversations (user_id, replica_id, seq, sender, message) VALUES ($1, 'r', 1, 'user', 'hi')", bob
    )
    await pool.execute("INSERT INTO sessions (user_id, expires_at) VALUES ($1, now())", alice)
    return alice, bob


def test_only_a_signed_in_users_claims_act_as_authenticated() -> None:
    assert api_role({"sub": "u", "role": "authenticated"}) == "authenticated"
    assert api_role({"role": "authenticated"}) == "anon", "no subject, nobody to be"
    assert api_role({"role": "anon"}) == "anon"
    assert api_role({"sub": "u", "role": "service_role"}) == "anon"
    assert api_role({"sub": "u", "role": "postgres"}) == "anon"
    assert api_role({}) == "anon"


async def test_a_user_reads_and_changes_only_their_own_rows(pool: asyncpg.Pool) -> None:
    alice, bob = await two_users(pool)
    async with acting_as(pool, user_claims(alice)) as conn:
        assert await conn.fetchval("SELECT auth.uid()") == alice
        assert await conn.fetchval("SELECT auth.role()") == "authenticated"
        assert (await conn.fetchval("SELECT auth.jwt()"))["email"] == "x@y.io"
        assert await conn.fetchval("SELECT current_user") == "authenticated"
        assert await conn.fetchval("SHOW statement_timeout") == "8s"
        assert [r["description"] for r in await conn.fetch("SELECT description FROM tasks")] == ["alice's"]
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 0
        assert await conn.fetchval("SELECT count(*) FROM users") == 1
        assert await conn.execute("UPDATE tasks SET status = 'completed'") == "UPDATE 1"
        assert await conn.execute("DELETE FROM tasks WHERE user_id = $1", bob) == "DELETE 0"
    async with acting_as(pool, user_claims(alice)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute("INSERT INTO tasks (user_id, description) VALUES ($1, 'forged')", bob)
    async with acting_as(pool, user_claims(alice)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                "INSERT INTO conversations (user_id, replica_id, seq, sender, message)"
                " VALUES ($1, 'r', 9, 'user', 'x')",
                alice,
            )
    async with acting_as(pool, user_claims(alice)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.fetch("SELECT * FROM sessions")
    async with acting_as(pool, user_claims(alice)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.fetch("SELECT password_hash FROM users")
    async with acting_as(pool, user_claims(bob)) as conn:
        assert await conn.fetchval("SELECT status FROM tasks") == "pending", "alice's update touched only hers"
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 1


async def test_the_anon_key_reads_nothing_and_writes_nothing(pool: asyncpg.Pool) -> None:
    alice, _ = await two_users(pool)
    async with acting_as(pool, {"role": "anon", "iss": "x"}) as conn:
        assert await conn.fetchval("SELECT current_user") == "anon"
        assert await conn.fetchval("SHOW statement_timeout") == "3s", "Supabase's limit for anon"
        assert await conn.fetchval("SELECT auth.uid()") is None
        assert await conn.fetchval("SELECT count(*) FROM tasks") == 0
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 0
        assert await conn.fetchval("SELECT count(*) FROM users") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("INSERT INTO tasks (user_id, description) VALUES ($1, 'anon')", alice)


async def test_the_claims_end_with_the_transaction(pool: asyncpg.Pool) -> None:
    """The pooled connection goes back as the server's own: the next borrower sees every row again."""
    await two_users(pool)
    async with pool.acquire() as conn:
        async with acting_as(conn, {"role": "anon"}):
            pass
        assert await conn.fetchval("SELECT current_setting('request.jwt.claims', true)") in ("", None)
        assert await conn.fetchval("SELECT count(*) FROM tasks") == 2
        with pytest.raises(ZeroDivisionError):
            async with acting_as(conn, {"role": "anon"}) as inner:
                await inner.fetchval("SELECT 1")
                raise ZeroDivisionError
        assert await conn.fetchval("SELECT count(*) FROM tasks") == 2


async def test_every_table_is_protected_and_the_migration_repeats_harmlessly(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        unprotected = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            " AND NOT relrowsecurity"
        )
        assert unprotected == []
        granted = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT DISTINCT table_name FROM information_schema.role_table_grants WHERE grantee = 'anon'"
            )
        }
        assert {"tasks", "conversations", "prototype_interactions"} <= granted
        assert not granted & {"sessions", "replies", "replica_briefings", "voice_pins", "schema_migrations"}
        policies = await conn.fetchval("SELECT count(*) FROM pg_policies")
        await conn.execute("DROP POLICY tasks_owner ON tasks")
        await conn.execute(_migration_060())
        assert await conn.fetchval("SELECT count(*) FROM pg_policies") == policies
        assert await conn.fetchval("SELECT count(*) FROM pg_policies WHERE policyname = 'tasks_owner'") == 1
    finally:
        await conn.close()


def _migration_060() -> str:
    from server.store.migrate import available_migrations

    return next(m.sql for m in available_migrations() if m.version == 60)


async def test_many_databases_migrate_at_once(databases: DatabaseFactory) -> None:
    """The roles are the server's, not a database's: concurrent migrations of new databases all succeed."""
    dsns = [await databases.empty() for _ in range(4)]
    await asyncio.gather(*(migrate(dsn) for dsn in dsns))
    for dsn in dsns:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT to_regprocedure('auth.uid()') IS NOT NULL")
        finally:
            await conn.close()
        databases.release(dsn)


async def test_a_supabase_database_is_left_as_it_is(databases: DatabaseFactory) -> None:
    dsn = await databases.empty()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE SCHEMA auth; CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$"
        )
        await migrate(dsn)
        assert await conn.fetchval("SELECT to_regprocedure('auth.jwt()')") is None, "not ours to add on Supabase"
        grants = "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'anon'"
        assert await conn.fetchval(grants) == 0
    finally:
        await conn.close()
        databases.release(dsn)


@asynccontextmanager
async def owner_role(admin_dsn: str, *, granted: bool) -> AsyncIterator[str]:
    """A login role of its own (no superuser, no CREATEROLE) that owns a new database: the DSN to connect as it.

    ``granted``: a database administrator made the API roles and granted them to it, as Supabase does for its
    ``authenticator``.
    """
    name = f"shtest_owner_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE ROLE "{name}" LOGIN')
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
        if granted:
            for role in ("anon", "authenticated"):
                with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                    await admin.execute(f"CREATE ROLE {role} NOLOGIN NOINHERIT")
                await admin.execute(f'GRANT {role} TO "{name}"')
        parts = urlsplit(with_database(admin_dsn, name))
        host = parts.netloc.rpartition("@")[2]
        try:
            yield urlunsplit(parts._replace(netloc=f"{name}@{host}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await admin.close()


@pytest.mark.parametrize("granted", [False, True], ids=["owner-alone", "owner-granted-the-api-roles"])
async def test_a_non_superuser_owner_runs_the_hub(databases: DatabaseFactory, granted: bool) -> None:
    """The tests and the embedded server connect as a superuser; a deployment may not. The hub's own queries (the
    owner's) see every row either way; the API roles are there when the owner may be granted them."""
    async with owner_role(databases.admin_dsn, granted=granted) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(dsn)
            user = await conn.fetchval("INSERT INTO users (email) VALUES ('o@x.io') RETURNING id")
            await tasks.create_task(conn, user, "owner's write")
            assert [t.description for t in await tasks.list_tasks(conn, user)] == ["owner's write"]
            assert await api_roles_ready(conn) is granted
            if granted:
                async with acting_as(conn, user_claims(user)) as acting:
                    assert await acting.fetchval("SELECT count(*) FROM tasks") == 1
                async with acting_as(conn, {"role": "anon"}) as acting:
                    assert await acting.fetchval("SELECT count(*) FROM tasks") == 0
        finally:
            await conn.close()
