-- The showcase's front end keeps its tasks as `{id, text, completed}` (its Task Memory page reads
-- `select=id,text,completed` through supabase-js and inserts `{text, completed}`); the hub keeps them as
-- `description` and `status`. Both spellings are columns of the same rows, kept equal by a trigger, so either side
-- reads and writes tasks unchanged, through /rest/v1, Supabase's PostgREST, /api/tasks or chat.
-- A new task belongs to whoever inserts it (`auth.uid()`, as on Supabase) unless it names its owner.
ALTER TABLE tasks
    ADD COLUMN text text,
    ADD COLUMN completed boolean NOT NULL DEFAULT false;
UPDATE tasks SET text = description, completed = (status = 'completed');
ALTER TABLE tasks ALTER COLUMN text SET NOT NULL;

CREATE FUNCTION sensay_task_spellings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.description := coalesce(NEW.description, NEW.text);
        IF NEW.completed THEN
            NEW.status := 'completed';
        END IF;
    ELSE
        IF NEW.text IS DISTINCT FROM OLD.text AND NEW.description IS NOT DISTINCT FROM OLD.description THEN
            NEW.description := NEW.text;
        END IF;
        IF NEW.completed IS DISTINCT FROM OLD.completed AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
            NEW.status := CASE WHEN NEW.completed THEN 'completed' ELSE 'pending' END;
        END IF;
        -- A change made through the front end's spelling is a change too (the hub compares updated_at).
        IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
           AND (NEW.description, NEW.status) IS DISTINCT FROM (OLD.description, OLD.status) THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    NEW.text := NEW.description;
    NEW.completed := (NEW.status = 'completed');
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_spellings
    BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION sensay_task_spellings();

DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL THEN
        ALTER TABLE tasks ALTER COLUMN user_id SET DEFAULT auth.uid();
    END IF;
END
$migration$;
