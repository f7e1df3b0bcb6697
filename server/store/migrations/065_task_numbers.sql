-- Task Memory names a task in chat by its number ("mark task 2 done"), and a number never moves: it is given
-- once per user, counting up, whoever inserts the task (chat, /api/tasks, /rest/v1, MCP), and never given again
-- after its task is deleted. So two "delete task 1" sent at once name the same task: one deletes it, the other
-- hears that it is gone (with positions, the second deleted the next task).
-- A chat message that names no task or several clearly keeps a `clarify` outcome: nothing changed, the replica
-- asks back.
CREATE TABLE task_counters (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_number integer NOT NULL
);
ALTER TABLE task_counters ENABLE ROW LEVEL SECURITY;  -- no policy, no grant: only the trigger below writes it

ALTER TABLE tasks ADD COLUMN number integer;
UPDATE tasks SET number = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY created_at, id) AS n FROM tasks) AS numbered
WHERE tasks.id = numbered.id;
INSERT INTO task_counters (user_id, last_number) SELECT user_id, max(number) FROM tasks GROUP BY user_id;

CREATE FUNCTION sensay_task_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.number := OLD.number;  -- a task keeps its number
        RETURN NEW;
    END IF;
    INSERT INTO task_counters AS c (user_id, last_number) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING last_number INTO NEW.number;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_number
    BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION sensay_task_number();

ALTER TABLE tasks ALTER COLUMN number SET NOT NULL;
CREATE UNIQUE INDEX tasks_user_number_key ON tasks (user_id, number);

ALTER TABLE task_commands DROP CONSTRAINT task_commands_command_check;
ALTER TABLE task_commands ADD CONSTRAINT task_commands_command_check
    CHECK (command IN ('add', 'complete', 'delete', 'list', 'clarify'));
