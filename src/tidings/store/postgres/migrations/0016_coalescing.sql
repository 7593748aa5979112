-- compatible: yes
-- Debounce, batch and singleton (migration 0016). One gate row per (task, key): the run
-- that triggers of that key coalesce into (debounce, batch) or that holds the key
-- (singleton). A trigger locks the gate row, so triggers of one key take turns across
-- processes; the run it points at decides what happens (still open or active, or not).
-- run_sources lists what each coalesced run gathered (trigger or event ids, oldest
-- first); runs.coalesced counts them (NULL: an ordinary run). Additive: a worker of the
-- previous release never reads or writes any of it.

CREATE TABLE flow_gates (
    task_id TEXT NOT NULL,
    key     TEXT NOT NULL,
    run_id  TEXT NOT NULL,
    PRIMARY KEY (task_id, key)
);
CREATE TABLE run_sources (
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, seq)
);
ALTER TABLE runs ADD COLUMN coalesced INTEGER;
