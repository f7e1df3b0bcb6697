-- What each replica was last told about its asker beyond the messages (bonded replicas' shared memories,
-- unlocked memories, its evolution): a fingerprint per Sensay conversation, i.e. per (asker, replica), where the
-- asker is one of our users or a room. The context is sent again only when it differs from what was seen.
CREATE TABLE replica_briefings (
    asker       text NOT NULL,
    replica_id  text NOT NULL,
    fingerprint text NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asker, replica_id)
);

-- On Supabase: the server's alone.
DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL THEN
        ALTER TABLE replica_briefings ENABLE ROW LEVEL SECURITY;
    END IF;
END
$migration$;
