-- The embedded change feed's notifications carry the time of the change, so subscribers see a
-- commit_timestamp (as they do from Supabase Realtime) and the feed's lag can be measured.
-- clock_timestamp() is when the row changed, a moment before its transaction commits.

CREATE OR REPLACE FUNCTION sensay_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    affected record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        affected := OLD;
    ELSE
        affected := NEW;
    END IF;
    PERFORM pg_notify(
        'sensay_changes',
        json_build_object(
            'table', TG_TABLE_NAME, 'op', TG_OP, 'id', affected.id, 'user_id', affected.user_id,
            'at', clock_timestamp()
        )::text
    );
    RETURN NULL;
END;
$$;
