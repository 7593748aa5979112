-- compatible: yes
-- Dashboard (migration 0010): indexes for its run list, run detail and overview; a
-- paused flag on schedules; and which waits each event resumed.

-- the run list pages newest first, filtered by status, or by task and status
CREATE INDEX runs_status_created ON runs (status, created_at);
CREATE INDEX runs_task_status_created ON runs (task_id, status, created_at);
-- the idempotency-key filter, and the overview's windows over finished runs
CREATE INDEX runs_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
-- a run's replays, shown on its detail page
CREATE INDEX runs_replay_of ON runs (replay_of) WHERE replay_of IS NOT NULL;
-- the notifications a run sent, shown on its detail page
CREATE INDEX notifications_run ON notifications (run_id) WHERE run_id IS NOT NULL;

-- a paused schedule fires no tick until it is resumed
ALTER TABLE schedules ADD COLUMN paused BOOLEAN NOT NULL DEFAULT FALSE;

-- the waits an event resumed, for the event log
CREATE TABLE event_resumes (
    event_id TEXT NOT NULL,
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step     TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event_id, run_id, step)
);
CREATE INDEX event_resumes_run ON event_resumes (run_id);
