-- compatible: yes
-- Retention (migration 0020): what the built-in tidings.prune task last did, and the
-- indexes that let each of its batches find the next rows to delete by index, in the
-- order it deletes them, whatever the size of the table.
-- Additive: a worker of the previous release never reads or writes any of it.

-- One row per prune (dry runs are not recorded): when, how long, how many rows of each
-- kind (JSON object), and whether it finished or stopped at its time budget.
CREATE TABLE prunes (
    id          TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    counts      TEXT NOT NULL,
    batches     INTEGER NOT NULL,
    complete    INTEGER NOT NULL
);
CREATE INDEX prunes_started ON prunes (started_at);

-- finished runs, oldest first, with the id as tie-break (the batch cursor)
CREATE INDEX runs_prune ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
-- a run's children: a finished run whose child is still active is kept
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
-- the gate a pruned run held
CREATE INDEX flow_gates_run ON flow_gates (run_id);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
CREATE INDEX notify_dedup_expires ON notify_dedup (expires_at);
CREATE INDEX notifications_created ON notifications (created_at, id);
CREATE INDEX inbox_items_created ON inbox_items (created_at, id);
CREATE INDEX inbox_changes_at ON inbox_changes (at);
CREATE INDEX digests_closed ON digests (closed_at) WHERE status = 'closed';
CREATE INDEX broadcasts_finished ON broadcasts (finished_at, id) WHERE finished_at IS NOT NULL;
