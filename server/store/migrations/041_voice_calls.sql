-- Pure Voice: calls come in through the mock telephony provider (inbound, checked by the owner's PIN), are
-- placed at a scheduled time (outbound), or are started in the app. Talk time is counted from stored
-- timestamps by whichever process is alive (`counted_at`): a gap longer than the sweeps allow is downtime and
-- does not count, so a call open across a restart expires after VOICE_CALL_MAX_SECONDS of talk, not of wall time.
-- Every line said on a call is kept in `voice_lines`, numbered per call.
ALTER TABLE voice_calls
    DROP CONSTRAINT voice_calls_status_check,
    DROP CONSTRAINT voice_calls_check,
    ALTER COLUMN started_at DROP NOT NULL,
    ADD COLUMN direction text NOT NULL DEFAULT 'app' CHECK (direction IN ('app', 'inbound', 'outbound')),
    ADD COLUMN peer_number text,
    ADD COLUMN provider_sid text,
    ADD COLUMN purpose text,
    ADD COLUMN scheduled_for timestamptz,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN talk_seconds double precision NOT NULL DEFAULT 0 CHECK (talk_seconds >= 0),
    ADD COLUMN counted_at timestamptz,
    ADD COLUMN pin_attempts integer NOT NULL DEFAULT 0 CHECK (pin_attempts >= 0),
    ADD COLUMN lines integer NOT NULL DEFAULT 0 CHECK (lines >= 0),
    ADD COLUMN end_reason text CHECK (end_reason IN ('hung_up', 'expired', 'pin_failed', 'canceled', 'provider'));
-- Calls made before: an open one counts its talk time from now on, an ended one was hung up.
UPDATE voice_calls SET counted_at = now(), created_at = started_at WHERE status = 'active';
UPDATE voice_calls SET end_reason = 'hung_up', talk_seconds = duration_seconds, created_at = started_at
WHERE status = 'ended';
ALTER TABLE voice_calls
    ADD CONSTRAINT voice_calls_status_check CHECK (status IN ('scheduled', 'awaiting_pin', 'active', 'ended')),
    ADD CONSTRAINT voice_calls_ended_check
        CHECK ((status = 'ended') = (ended_at IS NOT NULL AND duration_seconds IS NOT NULL AND end_reason IS NOT NULL)),
    ADD CONSTRAINT voice_calls_scheduled_check CHECK (status <> 'scheduled' OR scheduled_for IS NOT NULL);
CREATE INDEX voice_calls_scheduled_idx ON voice_calls (scheduled_for) WHERE status = 'scheduled';
CREATE INDEX voice_calls_talking_idx ON voice_calls (counted_at) WHERE status IN ('awaiting_pin', 'active');

-- The caller's PIN (argon2id), asked of every inbound call before the replica talks.
CREATE TABLE voice_pins (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    pin_hash   text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE voice_lines (
    call_id    uuid NOT NULL REFERENCES voice_calls (id) ON DELETE CASCADE,
    seq        integer NOT NULL CHECK (seq > 0),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    speaker    text NOT NULL CHECK (speaker IN ('user', 'replica')),
    source     text NOT NULL CHECK (source IN ('text', 'audio', 'replica')),
    text       text NOT NULL,
    answers    integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, seq),
    UNIQUE (call_id, answers)
);

DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        RETURN;
    END IF;
    ALTER TABLE voice_lines ENABLE ROW LEVEL SECURITY;
    CREATE POLICY voice_lines_owner_read ON voice_lines FOR SELECT USING (user_id = auth.uid());
    ALTER TABLE voice_pins ENABLE ROW LEVEL SECURITY;  -- no policy: only our server reads a PIN's hash
END
$migration$;
