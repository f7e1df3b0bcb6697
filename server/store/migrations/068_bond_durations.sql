-- A bond may be made for a while (Bonding Replicas' "duration control"): past `expires_at` its memories stop
-- reaching its replicas at once, and a sweep ends it (`end_reason` expired, the user is told). A bond ended by
-- the user says `unbonded`; bonds ended before this migration have no reason.
ALTER TABLE replica_bonds ADD COLUMN expires_at timestamptz;
ALTER TABLE replica_bonds ADD COLUMN end_reason text CHECK (end_reason IN ('unbonded', 'expired'));
ALTER TABLE replica_bonds ADD CHECK (expires_at IS NULL OR expires_at > created_at);
CREATE INDEX replica_bonds_expiry_idx ON replica_bonds (expires_at) WHERE active AND expires_at IS NOT NULL;
