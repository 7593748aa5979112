-- compatible: no
-- Bulk actions and replay from a step (migration 0021).
-- bulk_actions: one row per app.runs.cancel_many / replay_many. The filter is kept in
-- typed columns (JSON lists or NULL for "any"); "upto" is when the action was made:
-- runs created later are not matched. One run of tidings.runs.bulk walks the matching
-- runs in (created_at, id) order a page at a time; the keyset cursor (cursor_at,
-- cursor_id), "pages" and the counts advance in the transaction that acts on a page,
-- and only from the page count the page started at, so a page is acted on once
-- whatever the run re-executes after a crash.
-- bulk_replays: which source runs a replay action has replayed, and the new run.
-- Not compatible: a run replayed from a step starts with the source run's earlier
-- steps copied; the release before does not load the steps of a run it never
-- started (PostgreSQL) and would run them again.
CREATE TABLE bulk_actions (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('cancel', 'replay')),
    tasks          TEXT,
    statuses       TEXT,
    tags           TEXT,
    created_after  INTEGER,
    created_before INTEGER,
    upto           INTEGER NOT NULL,
    run_id         TEXT,
    page_size      INTEGER NOT NULL,
    total          INTEGER NOT NULL,
    done           INTEGER NOT NULL DEFAULT 0,
    changed        INTEGER NOT NULL DEFAULT 0,
    pages          INTEGER NOT NULL DEFAULT 0,
    cursor_at      INTEGER,
    cursor_id      TEXT,
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER
);
CREATE INDEX bulk_actions_created ON bulk_actions (created_at);

CREATE TABLE bulk_replays (
    bulk_id       TEXT NOT NULL,
    source_run_id TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    PRIMARY KEY (bulk_id, source_run_id)
);
CREATE INDEX bulk_replays_run ON bulk_replays (run_id);
