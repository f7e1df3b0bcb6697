-- State of the prototypes: the mock $SNSY ledger, replica evolution, bonds with their shared memories,
-- and mock voice calls. Every row belongs to one user and goes with them.

-- One account per user. The CHECKs are the last line of defence: debits are conditional UPDATEs
-- (WHERE balance >= amount), so a concurrent overdraft fails instead of going negative.
CREATE TABLE ledger_accounts (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    staked     bigint NOT NULL DEFAULT 0 CHECK (staked >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The journal: one row per movement, never changed. Summing the deltas of a user gives the account.
CREATE TABLE ledger_entries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('mint', 'stake', 'unstake', 'spend')),
    amount        bigint NOT NULL CHECK (amount > 0),
    balance_delta bigint NOT NULL,
    staked_delta  bigint NOT NULL,
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    staked_after  bigint NOT NULL CHECK (staked_after >= 0),
    memo          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_user_idx ON ledger_entries (user_id, created_at DESC);

CREATE FUNCTION sensay_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Deleting the owner cascades here; that is the one way rows may leave the journal.
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION sensay_append_only();

-- A replica's specialisation: one path per (user, replica), levels bought with tokens.
CREATE TABLE replica_evolutions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    replica_id text NOT NULL,
    path       text NOT NULL,
    level      integer NOT NULL CHECK (level >= 1),
    spent      bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT replica_evolutions_user_replica_key UNIQUE (user_id, replica_id)
);

-- Two to five replicas bonded together; replica_ids is kept sorted, so a set has one spelling.
CREATE TABLE replica_bonds (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    replica_ids text[] NOT NULL CHECK (cardinality(replica_ids) BETWEEN 2 AND 5),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    CHECK (active = (ended_at IS NULL))
);
CREATE INDEX replica_bonds_user_idx ON replica_bonds (user_id, created_at DESC);
CREATE UNIQUE INDEX replica_bonds_active_set_key ON replica_bonds (user_id, replica_ids) WHERE active;
CREATE INDEX replica_bonds_active_replicas_idx ON replica_bonds USING gin (replica_ids) WHERE active;

CREATE TABLE bond_memories (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bond_id    uuid NOT NULL REFERENCES replica_bonds (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bond_memories_bond_idx ON bond_memories (bond_id, created_at);

CREATE TABLE voice_calls (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    replica_id       text NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    duration_seconds double precision CHECK (duration_seconds >= 0),
    CHECK ((status = 'ended') = (ended_at IS NOT NULL AND duration_seconds IS NOT NULL))
);
CREATE INDEX voice_calls_user_idx ON voice_calls (user_id, started_at DESC);
