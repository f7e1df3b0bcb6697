-- The mock chain moves ledger balances: each user has a wallet address (derived from the id, so every user has
-- one without a write), and a transfer is a row. The nonce makes two otherwise identical transfers distinct;
-- the same (sender, nonce) is the same transfer, answered again rather than applied twice.
ALTER TABLE users ADD COLUMN wallet_address text GENERATED ALWAYS AS
    ('0x' || left(encode(sha256(('wallet|' || id::text)::bytea), 'hex'), 40)) STORED;
CREATE UNIQUE INDEX users_wallet_address_key ON users (wallet_address);

CREATE TABLE chain_transfers (
    hash         text PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    from_address text NOT NULL,
    to_address   text NOT NULL,
    recipient_id uuid REFERENCES users (id) ON DELETE SET NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    nonce        bigint NOT NULL CHECK (nonce >= 0),
    block_number bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, nonce)
);

DO $migration$
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        RETURN;
    END IF;
    ALTER TABLE chain_transfers ENABLE ROW LEVEL SECURITY;
    CREATE POLICY chain_transfers_owner_read ON chain_transfers FOR SELECT USING (user_id = auth.uid());
END
$migration$;
