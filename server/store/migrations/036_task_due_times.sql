-- Task Memory: a task may be due at a time (parsed from chat with dateparser, or given over REST); a due task
-- is reminded once (`reminded_at`). A task command given in chat keeps its outcome with the message that
-- gave it, so a message sent again (same client id) never applies its command twice.
ALTER TABLE tasks ADD COLUMN due_at timestamptz, ADD COLUMN reminded_at timestamptz;
CREATE INDEX tasks_due_idx ON tasks (due_at) WHERE due_at IS NOT NULL AND reminded_at IS NULL;

CREATE TABLE task_commands (
    message_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    command    text NOT NULL CHECK (command IN ('add', 'complete', 'delete', 'list')),
    ok         boolean NOT NULL,
    outcome    text NOT NULL,
    task_id    uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);

DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        RETURN;
    END IF;
    ALTER TABLE task_commands ENABLE ROW LEVEL SECURITY;
    CREATE POLICY task_commands_owner_read ON task_commands FOR SELECT USING (user_id = auth.uid());
END
$migration$;
