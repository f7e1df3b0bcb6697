-- The reply sweeper looks for recent user messages without a reply (or room run) row: their process died between
-- acking the message and recording its reply. By time, among user messages only.
CREATE INDEX conversations_user_messages_idx ON conversations ("timestamp") WHERE sender = 'user';
CREATE INDEX room_messages_user_messages_idx ON room_messages (created_at) WHERE sender = 'user';
