-- Pure Voice: the user's own phone number, proven by a code the telephony provider sends to it. Inbound calls
-- from the verified number skip the PIN. A verified number belongs to one user; a number waiting for its code
-- (`pending_number`) reserves nothing, so nobody can block a number by claiming it first, and wrong codes only
-- use up the attempts of the claim they were given for.
CREATE TABLE voice_numbers (
    user_id         uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    number          text CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    verified_at     timestamptz,
    pending_number  text CHECK (pending_number ~ '^\+[1-9][0-9]{6,14}$'),
    code_hash       bytea,
    code_expires_at timestamptz,
    code_attempts   integer NOT NULL DEFAULT 0 CHECK (code_attempts >= 0),
    codes_sent      integer NOT NULL DEFAULT 0 CHECK (codes_sent >= 0),
    window_start    timestamptz NOT NULL DEFAULT now(),
    CHECK ((number IS NULL) = (verified_at IS NULL)),
    CHECK ((pending_number IS NULL) = (code_hash IS NULL)),
    CHECK ((pending_number IS NULL) = (code_expires_at IS NULL))
);
CREATE UNIQUE INDEX voice_numbers_number_key ON voice_numbers (number);

DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        RETURN;
    END IF;
    ALTER TABLE voice_numbers ENABLE ROW LEVEL SECURITY;  -- no policy: only our server reads codes' hashes
END
$migration$;
