-- Memories a replica ships with, and prices that follow use.
-- A house memory has no author: the operator seeded it (the local replica's personas get theirs at start-up,
-- a real Sensay replica's through `POST /api/server/memories`). Seeding is keyed by replica and content, so
-- seeding again changes a memory's tier or price rather than adding a copy. Spending on a house memory pays
-- no one (the tokens leave the ledger).
ALTER TABLE replica_memories ALTER COLUMN author_id DROP NOT NULL;
CREATE UNIQUE INDEX replica_memories_house_key ON replica_memories (replica_id, md5(content)) WHERE author_id IS NULL;

-- How many times the memory was unlocked by spending or staking (a marketplace sale moves an unlock, it makes
-- none): the price of the next unlock follows it (see server/prototypes/token_gated_memories.py).
ALTER TABLE replica_memories ADD COLUMN unlocks bigint NOT NULL DEFAULT 0 CHECK (unlocks >= 0);
