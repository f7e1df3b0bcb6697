"""Row level security on a Supabase-like database (an ``auth`` schema with ``auth.uid()``), and the same on plain
PostgreSQL."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from server.store.migrate import migrate

from ..databases import DatabaseFactory

SUPABASE_LIKE = """
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
DO $$ BEGIN
    CREATE ROLE authenticated NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- a role is the server's: another test's may be there
END $$;
GRANT USAGE ON SCHEMA auth TO authenticated;
CREATE PUBLICATION supabase_realtime;
"""


async def as_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("SET ROLE authenticated")
    await conn.execute("SELECT set_config('request.jwt.claim.sub', $1, false)", str(user_id))


async def test_policies_keep_each_user_to_their_own_rows(databases: DatabaseFactory) -> None:
    dsn = await databases.empty()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SUPABASE_LIKE)
        await migrate(dsn)
        await conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO authenticated")
        alice = await conn.fetchval("INSERT INTO users (email) VALUES ('a@x.io') RETURNING id")
        bob = await conn.fetchval("INSERT INTO users (email) VALUES ('b@x.io') RETURNING id")
        await conn.execute(
            "INSERT INTO tasks (user_id, description) VALUES ($1, 'alice''s'), ($2, 'bob''s')", alice, bob
        )
        await conn.execute(
            "INSERT INTO conversations (user_id, replica_id, seq, sender, message) VALUES ($1, 'r', 1, 'user', 'hi')",
            bob,
        )
        room = await conn.fetchval("INSERT INTO rooms (name, created_by) VALUES ('r', $1) RETURNING id", bob)
        await conn.execute("INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)", room, bob)
        await conn.execute(
            "INSERT INTO room_messages (room_id, seq, sender, user_id, message) VALUES ($1, 1, 'user', $2, 'x')",
            room,
            bob,
        )
        await conn.execute("INSERT INTO sessions (user_id, expires_at) VALUES ($1, now())", alice)
        await conn.execute(
            "INSERT INTO replica_briefings (asker, replica_id, fingerprint) VALUES ($1, 'r', 'f')", str(alice)
        )
        published = await conn.fetchval(
            "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'supabase_realtime'"
        )
        assert published == 2

        await as_user(conn, alice)
        assert [r["description"] for r in await conn.fetch("SELECT description FROM tasks")] == ["alice's"]
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 0
        assert await conn.fetchval("SELECT count(*) FROM room_messages") == 0
        assert await conn.fetchval("SELECT count(*) FROM rooms") == 0
        assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
        assert await conn.fetchval("SELECT count(*) FROM replica_briefings") == 0, (
            "what replicas were told: server only"
        )
        assert await conn.fetchval("SELECT count(*) FROM users") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("INSERT INTO tasks (user_id, description) VALUES ($1, 'forged')", bob)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO conversations (user_id, replica_id, seq, sender, message)"
                " VALUES ($1, 'r', 9, 'user', 'no')",
                alice,
            )
        assert await conn.execute("UPDATE tasks SET status = 'completed'") == "UPDATE 1"

        await conn.execute("RESET ROLE")
        await as_user(conn, bob)
        assert await conn.fetchval("SELECT count(*) FROM room_messages") == 1
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 1
        assert await conn.fetchval("SELECT status FROM tasks") == "pending", "alice's update touched only hers"
    finally:
        await conn.close()


async def test_plain_postgresql_gets_the_same_policies_as_supabase(
    databases: DatabaseFactory, database_url: str
) -> None:
    """Migration 060 gives plain PostgreSQL Supabase's ``auth.uid()`` and the policies the earlier migrations apply
    only on Supabase: the same policies, so /rest/v1 and /realtime/v1 are held to the same rules on both."""

    async def policies(dsn: str) -> set[tuple[str, ...]]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies")
            return {tuple(row.values()) for row in rows}
        finally:
            await conn.close()

    supabase = await databases.empty()
    conn = await asyncpg.connect(supabase)
    try:
        await conn.execute(SUPABASE_LIKE)
    finally:
        await conn.close()
    await migrate(supabase)
    assert await policies(database_url) == await policies(supabase)
    databases.release(supabase)
