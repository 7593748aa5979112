-- compatible: yes
-- Events, waits for events, cancel-on keys and parent links of child runs.

ALTER TABLE runs ADD COLUMN parent_run_id TEXT;

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    data        TEXT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    -- the runs it started, so a repeated id returns the first receipt
    run_ids     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX events_name_received ON events (name, received_at);

-- A run waiting for an event. Lookup is by (event, which paths it matches on, the
-- expected values at those paths): an index probe, whatever the number of waiters.
CREATE TABLE event_waits (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        TEXT NOT NULL,
    event_name  TEXT NOT NULL,
    match_paths TEXT NOT NULL,
    match_key   TEXT NOT NULL,
    since       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE INDEX event_waits_lookup ON event_waits (event_name, match_paths, match_key);

-- The distinct match shapes per event name, so an event knows which keys to probe.
CREATE TABLE event_wait_shapes (
    event_name  TEXT NOT NULL,
    match_paths TEXT NOT NULL,
    PRIMARY KEY (event_name, match_paths)
);

-- Per active run, the key a CancelOn of its task matches events against.
CREATE TABLE run_cancel_keys (
    event_name TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    PRIMARY KEY (event_name, task_id, key, run_id)
);
CREATE INDEX run_cancel_keys_run ON run_cancel_keys (run_id);
