-- Supabase's access model on plain PostgreSQL, so /rest/v1 and /realtime/v1 leave access to the database as
-- Supabase does: the roles `anon` and `authenticated`, the `auth` schema with `auth.uid()`, `auth.role()` and
-- `auth.jwt()` reading the request's claims (`request.jwt.claims`, set per transaction by server/store/claims.py),
-- and the row-level-security policies that 004 and later migrations apply only where `auth.uid()` exists.
--
-- On Supabase (where an `auth.uid()` not made here exists) nothing here runs: its roles, grants and our policies are
-- there. Run again, it puts back what is missing and changes nothing else.
-- A migration after this one that adds a table must enable row level security on it and grant the roles what
-- they may do (Supabase's default privileges give them everything; here nothing is granted by default).
DO $migration$
DECLARE
    api_role text;
    owned text;
    policy record;
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL
       AND obj_description(to_regprocedure('auth.uid()'), 'pg_proc') IS DISTINCT FROM 'sensay-hub: Supabase''s auth.uid()' THEN
        RETURN;
    END IF;

    -- Roles are cluster-wide: another database on this server (a test's, a second deployment's) may be creating
    -- them at this moment. A server that may not create roles runs without them: /rest/v1 then answers that the
    -- database API is not set up, and nothing else needs them.
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', api_role);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role %: the database API (/rest/v1) is not available', api_role;
        END;
        -- The server switches to the role per transaction (SET LOCAL ROLE), so its login role must be a member.
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = api_role)
           AND NOT pg_has_role(current_user, api_role, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', api_role, current_user);
            EXCEPTION
                WHEN unique_violation THEN NULL;
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot grant role % to %: the database API is not available', api_role, current_user;
            END;
        END IF;
    END LOOP;

    -- Supabase's definitions: the whole claims as JSON (PostgREST >= 9), or one setting per claim (older).
    CREATE SCHEMA IF NOT EXISTS auth;
    CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $fn$
        SELECT coalesce(
            nullif(current_setting('request.jwt.claim', true), ''),
            nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
    $fn$;
    CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $fn$
        SELECT coalesce(
            nullif(current_setting('request.jwt.claim.sub', true), ''),
            nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
        )::uuid
    $fn$;
    CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $fn$
        SELECT coalesce(
            nullif(current_setting('request.jwt.claim.role', true), ''),
            nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
        )::text
    $fn$;

    COMMENT ON FUNCTION auth.uid() IS 'sensay-hub: Supabase''s auth.uid()';

    -- The policies of 004, 031, 035, 036, 037, 041 and 050, as written there.
    CREATE OR REPLACE FUNCTION sensay_is_room_member(room uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $fn$
        SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = room AND user_id = auth.uid())
    $fn$;

    -- Row level security on every table: with a policy below, or none (nobody but the owner, our server).
    FOR owned IN SELECT c.relname FROM pg_class c
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', owned);
    END LOOP;

    FOR policy IN SELECT * FROM (VALUES
        ('users', 'users_self_read', 'SELECT', 'id = auth.uid()', NULL),
        ('tasks', 'tasks_owner', 'ALL', 'user_id = auth.uid()', 'user_id = auth.uid()'),
        ('conversations', 'conversations_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('conversation_streams', 'conversation_streams_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('prototype_interactions', 'prototype_interactions_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('ledger_accounts', 'ledger_accounts_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('ledger_entries', 'ledger_entries_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('replica_evolutions', 'replica_evolutions_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('replica_bonds', 'replica_bonds_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('bond_memories', 'bond_memories_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('voice_calls', 'voice_calls_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('rooms', 'rooms_member_read', 'SELECT', 'is_open OR sensay_is_room_member(id)', NULL),
        ('room_members', 'room_members_member_read', 'SELECT', 'sensay_is_room_member(room_id)', NULL),
        ('room_messages', 'room_messages_member_read', 'SELECT', 'sensay_is_room_member(room_id)', NULL),
        ('memory_unlocks', 'memory_unlocks_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('memory_tiers', 'memory_tiers_read', 'SELECT', 'true', NULL),
        ('replica_memories', 'replica_memories_author_read', 'SELECT', 'author_id = auth.uid()', NULL),
        ('memory_listings', 'memory_listings_party_read', 'SELECT', 'seller_id = auth.uid() OR buyer_id = auth.uid()', NULL),
        ('task_commands', 'task_commands_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('chain_transfers', 'chain_transfers_owner_read', 'SELECT', 'user_id = auth.uid()', NULL),
        ('voice_lines', 'voice_lines_owner_read', 'SELECT', 'user_id = auth.uid()', NULL)
    ) AS p (tablename, policyname, command, using_expr, check_expr) LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_policies
            WHERE schemaname = 'public' AND tablename = policy.tablename AND policyname = policy.policyname
        ) THEN
            EXECUTE format(
                'CREATE POLICY %I ON %I FOR %s USING (%s)%s',
                policy.policyname, policy.tablename, policy.command, policy.using_expr,
                CASE WHEN policy.check_expr IS NULL THEN '' ELSE format(' WITH CHECK (%s)', policy.check_expr) END
            );
        END IF;
    END LOOP;

    -- What Supabase grants, less what the front end has no business with: every table with a policy (the
    -- policies decide), never the server's own (sessions, replies, briefings, PIN hashes, migrations), and of
    -- `users` not the password hash.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon')
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        GRANT USAGE ON SCHEMA public, auth TO anon, authenticated;
        FOR owned IN SELECT DISTINCT tablename FROM pg_policies WHERE schemaname = 'public' AND tablename <> 'users' LOOP
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO anon, authenticated', owned);
        END LOOP;
        GRANT SELECT (id, email, created_at, user_metadata, updated_at, last_sign_in_at, wallet_address)
            ON users TO anon, authenticated;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated;
    END IF;
END
$migration$;
