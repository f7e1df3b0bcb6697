-- A task inserted without an owner (an anonymous /rest/v1 insert) is refused by row-level security (42501), as
-- before 065: the numbering trigger runs before that check and counted for a NULL user, so the refusal came out as
-- a not-null violation (23502) of task_counters instead. It now leaves such a row alone.
CREATE OR REPLACE FUNCTION sensay_task_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.number := OLD.number;  -- a task keeps its number
        RETURN NEW;
    END IF;
    IF NEW.user_id IS NULL THEN
        RETURN NEW;  -- refused below (row-level security, or user_id NOT NULL): nothing to count
    END IF;
    INSERT INTO task_counters AS c (user_id, last_number) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING last_number INTO NEW.number;
    RETURN NEW;
END;
$$;
