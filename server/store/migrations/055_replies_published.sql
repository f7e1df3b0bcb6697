-- A reply is shown once it is published: `done` rows record when (set after the `message` frame went out). A row
-- still `running` or `pending` may hold a stored but unannounced reply; whoever claims it next publishes it.
ALTER TABLE replies ADD COLUMN published_at timestamptz;
