-- Row level security for a Supabase database, where the front end may also reach these tables through
-- PostgREST or Realtime as the `authenticated` role. Only applied where Supabase's `auth.uid()` exists:
-- on plain PostgreSQL nothing here runs. Our server connects as the tables' owner, which RLS does not
-- restrict. Nothing here needs a superuser: the table owner may create policies and functions.
DO $migration$
DECLARE
    owned text;
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        RETURN;
    END IF;

    -- A room's members may read it; SECURITY DEFINER so the room_members policy does not recurse into itself.
    CREATE FUNCTION sensay_is_room_member(room uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $fn$
        SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = room AND user_id = auth.uid())
    $fn$;

    ALTER TABLE users ENABLE ROW LEVEL SECURITY;
    CREATE POLICY users_self_read ON users FOR SELECT USING (id = auth.uid());

    -- Tasks are the front end's to change directly (as the seed has it); the change feed relays every change.
    ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tasks_owner ON tasks FOR ALL USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());

    -- Written only through the server, which keeps sequence numbers, idempotency and balances right: read-only.
    FOREACH owned IN ARRAY ARRAY[
        'conversations', 'conversation_streams', 'prototype_interactions', 'ledger_accounts', 'ledger_entries',
        'replica_evolutions', 'replica_bonds', 'bond_memories', 'voice_calls'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', owned);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (user_id = auth.uid())', owned || '_owner_read', owned);
    END LOOP;

    ALTER TABLE rooms ENABLE ROW LEVEL SECURITY;
    CREATE POLICY rooms_member_read ON rooms FOR SELECT USING (is_open OR sensay_is_room_member(id));
    ALTER TABLE room_members ENABLE ROW LEVEL SECURITY;
    CREATE POLICY room_members_member_read ON room_members FOR SELECT USING (sensay_is_room_member(room_id));
    ALTER TABLE room_messages ENABLE ROW LEVEL SECURITY;
    CREATE POLICY room_messages_member_read ON room_messages FOR SELECT USING (sensay_is_room_member(room_id));

    -- No policy at all: nobody but the owner (our server) sees these.
    ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
    ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY;

    -- Supabase Realtime only sees tables in its publication.
    IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
        ALTER PUBLICATION supabase_realtime ADD TABLE tasks, prototype_interactions;
    END IF;
END
$migration$;
