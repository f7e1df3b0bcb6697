-- Row level security for a Supabase database, where the front end may also reach these tables through
-- PostgREST or Realtime as the `authenticated` role. Only applied where Supabase's `auth.uid()` exists:
-- on plain PostgreSQL nothing here runs. Our server connects as the tables' owner, which RLS does not
-- restrict. Nothing here needs a superuser: the table owner may create policies and functions.
DO $migration$
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
    ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
    CREATE POLICY conversations_owner_read ON conversations FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE conversation_streams ENABLE ROW LEVEL SECURITY;
    CREATE POLICY conversation_streams_owner_read ON conversation_streams FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE prototype_interactions ENABLE ROW LEVEL SECURITY;
    CREATE POLICY prototype_interactions_owner_read ON prototype_interactions FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE ledger_accounts ENABLE ROW LEVEL SECURITY;
    CREATE POLICY ledger_accounts_owner_read ON ledger_accounts FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
    CREATE POLICY ledger_entries_owner_read ON ledger_entries FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE replica_evolutions ENABLE ROW LEVEL SECURITY;
    CREATE POLICY replica_evolutions_owner_read ON replica_evolutions FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE replica_bonds ENABLE ROW LEVEL SECURITY;
    CREATE POLICY replica_bonds_owner_read ON replica_bonds FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE bond_memories ENABLE ROW LEVEL SECURITY;
    CREATE POLICY bond_memories_owner_read ON bond_memories FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE voice_calls ENABLE ROW LEVEL SECURITY;
    CREATE POLICY voice_calls_owner_read ON voice_calls FOR SELECT USING (user_id = auth.uid());

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
