-- Embedded auth that speaks GoTrue (Supabase Auth): a user's metadata and sign-in time, and refresh-token
-- rotation by counter, as GoTrue's second refresh-token algorithm does it.
ALTER TABLE users
    ADD COLUMN user_metadata   jsonb NOT NULL DEFAULT '{}'::jsonb,  -- GoTrue's ``data`` / ``user_metadata``
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_sign_in_at timestamptz;

-- A session's refresh tokens are numbered: token N names the session and N, signed by the server (so nothing
-- secret is stored here). Refreshing with the newest one (N = refresh_counter) moves the counter on; an older
-- one ends the whole session, unless it is the one just before or the session was refreshed moments ago.
-- Sessions logged in before this migration keep their access tokens but must log in again to refresh.
ALTER TABLE sessions
    ADD COLUMN refresh_counter bigint NOT NULL DEFAULT 0,
    DROP COLUMN refresh_token_hash;
