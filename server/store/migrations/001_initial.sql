-- The seed's four tables plus what a chat hub needs beside them.
-- Ids are UUIDs everywhere (Supabase's auth.users uses them too); timestamps are timestamptz.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    password_hash text,                       -- NULL for users that live in Supabase Auth
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- One row per login; logout (or refresh-token reuse) revokes it, which stops its tokens at once.
CREATE TABLE sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_token_hash bytea NOT NULL UNIQUE,  -- sha256 of the opaque refresh token
    created_at         timestamptz NOT NULL DEFAULT now(),
    refreshed_at       timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Per-stream sequence counters: a stream is (user, replica) for chat.
CREATE TABLE conversation_streams (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    replica_id text NOT NULL,
    last_seq   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, replica_id)
);

CREATE TABLE conversations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    replica_id text NOT NULL,
    seq        bigint NOT NULL,
    sender     text NOT NULL CHECK (sender IN ('user', 'replica')),
    message    text NOT NULL,
    client_id  text,                          -- the client's message id, for idempotent sends
    reply_to   uuid REFERENCES conversations (id) ON DELETE CASCADE,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversations_stream_seq_key UNIQUE (user_id, replica_id, seq)
);
CREATE UNIQUE INDEX conversations_client_id_key ON conversations (user_id, client_id) WHERE client_id IS NOT NULL;
CREATE UNIQUE INDEX conversations_reply_to_key ON conversations (reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX conversations_user_timestamp_idx ON conversations (user_id, "timestamp" DESC, id DESC);

CREATE TABLE tasks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_progress', 'completed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at, id);

CREATE TABLE prototype_interactions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prototype        text NOT NULL,
    interaction_type text NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prototype_interactions_user_idx ON prototype_interactions (user_id, prototype, created_at DESC);

CREATE TABLE rooms (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_by uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mode       text NOT NULL DEFAULT 'natural'
               CHECK (mode IN ('natural', 'topic', 'moderated', 'round_robin', 'adversarial')),
    replica_ids text[] NOT NULL DEFAULT '{}',
    settings   jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_open    boolean NOT NULL DEFAULT false,
    last_seq   bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE room_members (
    room_id   uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id);

CREATE TABLE room_messages (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    sender     text NOT NULL CHECK (sender IN ('user', 'replica')),
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    replica_id text,
    message    text NOT NULL,
    client_id  text,
    reply_to   uuid REFERENCES room_messages (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT room_messages_room_seq_key UNIQUE (room_id, seq)
);
CREATE UNIQUE INDEX room_messages_client_id_key ON room_messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;
