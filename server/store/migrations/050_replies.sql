-- A reply is a row: every message awaiting a replica's reply has its state here, so exactly one process in the
-- deployment produces it (claimed with FOR UPDATE SKIP LOCKED and a lease), and a process that dies loses its
-- leases to the others. `job` is the whole reply job (JSON), so any process can take it up.
CREATE TABLE replies (
    kind        text NOT NULL,
    reply_to    text NOT NULL,
    job         text NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    holder      text,
    lease_until timestamptz NOT NULL DEFAULT now(),
    asked_at    timestamptz,           -- when Sensay was first asked (a successor checks its history first)
    code        text,
    retryable   boolean,
    retry_after double precision,
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, reply_to)
);
CREATE INDEX replies_open_idx ON replies (lease_until) WHERE state IN ('pending', 'running');

-- On Supabase the front end's roles must not read the jobs (they hold prompts): no policy, owner only.
DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL THEN
        ALTER TABLE replies ENABLE ROW LEVEL SECURITY;
    END IF;
END
$migration$;
