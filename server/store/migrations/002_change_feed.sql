-- The embedded change feed: a trigger on each watched table sends the table, the operation, the row's id
-- and its owner through pg_notify. Rows are read back by id, so NOTIFY's 8000-byte payload limit never
-- bites; a deleted row cannot be read back, so its key columns travel in the payload instead.

CREATE FUNCTION sensay_notify_change() RETURNS trigger
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
        json_build_object('table', TG_TABLE_NAME, 'op', TG_OP, 'id', affected.id, 'user_id', affected.user_id)::text
    );
    RETURN NULL;
END;
$$;

CREATE TRIGGER tasks_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION sensay_notify_change();

CREATE TRIGGER prototype_interactions_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON prototype_interactions
    FOR EACH ROW EXECUTE FUNCTION sensay_notify_change();

-- Supabase Realtime sends the whole old row (with its user_id) on UPDATE and DELETE only with this.
ALTER TABLE tasks REPLICA IDENTITY FULL;
ALTER TABLE prototype_interactions REPLICA IDENTITY FULL;
