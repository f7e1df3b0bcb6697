-- The MCP `search` tool matches a user's messages and tasks by full text (English stemming): these indexes find
-- the matching rows without reading (and stemming) every row of the user. Its literal-part match (ILIKE) reads
-- the user's rows through their per-user indexes.
CREATE INDEX conversations_message_fts_idx ON conversations USING gin (to_tsvector('english', message));
CREATE INDEX tasks_description_fts_idx ON tasks USING gin (to_tsvector('english', description));
