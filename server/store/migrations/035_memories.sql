-- Token-gated memories as records: each belongs to a replica and sits in a tier. A user sees a memory when
-- they wrote it, when their staked $SNSY reaches its tier's threshold, or while they hold an unlock of it
-- (spent for good, bought from another user, or staked until the stake lapses). Holders of a permanent
-- unlock may offer it to other users on a mock marketplace.

-- The tiers and what they take: `threshold` staked tokens open the whole tier, `price` unlocks one memory.
CREATE TABLE memory_tiers (
    tier      text PRIMARY KEY,
    rank      integer NOT NULL UNIQUE,
    threshold bigint NOT NULL CHECK (threshold >= 0),
    price     bigint NOT NULL CHECK (price >= 0)
);
INSERT INTO memory_tiers (tier, rank, threshold, price) VALUES
    ('public', 0, 0, 0),
    ('premium', 1, 100, 10),
    ('expert', 2, 500, 50),
    ('exclusive', 3, 2000, 200);

CREATE TABLE replica_memories (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    replica_id text NOT NULL,
    author_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier       text NOT NULL CHECK (tier IN ('public', 'premium', 'expert', 'exclusive')),
    content    text NOT NULL,
    price      bigint NOT NULL CHECK (price >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX replica_memories_replica_idx ON replica_memories (replica_id, created_at, id);

-- At most one live unlock per (user, memory). A staked unlock has an expiry; a lapsed, released or sold
-- unlock keeps its row with `ended_at` and the reason.
CREATE TABLE memory_unlocks (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    memory_id  uuid NOT NULL REFERENCES replica_memories (id) ON DELETE CASCADE,
    method     text NOT NULL CHECK (method IN ('spend', 'stake', 'purchase')),
    amount     bigint NOT NULL CHECK (amount >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    ended_at   timestamptz,
    end_reason text CHECK (end_reason IN ('lapsed', 'released', 'sold')),
    CHECK ((method = 'stake') = (expires_at IS NOT NULL)),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE UNIQUE INDEX memory_unlocks_live_key ON memory_unlocks (user_id, memory_id) WHERE ended_at IS NULL;
CREATE INDEX memory_unlocks_lapse_idx ON memory_unlocks (expires_at) WHERE ended_at IS NULL AND method = 'stake';

CREATE TABLE memory_listings (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seller_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    unlock_id  uuid NOT NULL REFERENCES memory_unlocks (id) ON DELETE CASCADE,
    memory_id  uuid NOT NULL REFERENCES replica_memories (id) ON DELETE CASCADE,
    price      bigint NOT NULL CHECK (price > 0),
    status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'sold', 'withdrawn')),
    buyer_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz,
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE UNIQUE INDEX memory_listings_open_key ON memory_listings (unlock_id) WHERE status = 'open';
CREATE INDEX memory_listings_open_idx ON memory_listings (created_at DESC) WHERE status = 'open';

-- Tokens locked in staked unlocks and moved between users join the journal's kinds.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('mint', 'stake', 'unstake', 'spend', 'lock', 'release', 'transfer_in', 'transfer_out'));

-- A position in each journal, for paging (`?before=`): increasing, never reused.
ALTER TABLE ledger_entries ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX ledger_entries_user_n_idx ON ledger_entries (user_id, n DESC);
ALTER TABLE prototype_interactions ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX prototype_interactions_user_n_idx ON prototype_interactions (user_id, prototype, n DESC);

-- On Supabase: owners read their own rows; memories and listings are read through the server only.
DO $migration$
DECLARE
    owned text;
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        RETURN;
    END IF;
    FOREACH owned IN ARRAY ARRAY['memory_unlocks'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', owned);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (user_id = auth.uid())', owned || '_owner_read', owned);
    END LOOP;
    ALTER TABLE memory_tiers ENABLE ROW LEVEL SECURITY;
    CREATE POLICY memory_tiers_read ON memory_tiers FOR SELECT USING (true);
    ALTER TABLE replica_memories ENABLE ROW LEVEL SECURITY;
    CREATE POLICY replica_memories_author_read ON replica_memories FOR SELECT USING (author_id = auth.uid());
    ALTER TABLE memory_listings ENABLE ROW LEVEL SECURITY;
    CREATE POLICY memory_listings_party_read ON memory_listings FOR SELECT
        USING (seller_id = auth.uid() OR buyer_id = auth.uid());
END
$migration$;
