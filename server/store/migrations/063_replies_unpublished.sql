-- A reply can be stored and its row settled `done` in one statement, before its `message` frame goes out: such a
-- row is published (published_at set) a moment later. Until then its lease runs, and the sweeper takes the row up
-- if it runs out (the process died in between), as it does open rows: one partial index for both.
CREATE INDEX replies_sweep_idx ON replies (lease_until)
    WHERE state IN ('pending', 'running') OR (state = 'done' AND published_at IS NULL);
DROP INDEX replies_open_idx;
