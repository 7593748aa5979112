-- compatible: yes
-- Alerts and timer lateness (migration 0022).
-- runs.timer_due_at: a claim copies the due time of the timer it fires (a sleep's end,
-- a wait's timeout, a delayed or scheduled start, a retry) here, in the same UPDATE, so
-- the worker can tell how late it started; NULL when the claim fired no timer (a run
-- triggered to start at once, made due by an event, or taken over from a vanished
-- worker).
-- timer_lateness: those latenesses as histogram buckets, one row per minute, worker and
-- bucket, added to by each worker; rows older than a day are folded into the totals
-- row (minute 1970-01-01, worker '*'), so /metrics stays monotonic and the table small.
-- alert_windows: per alert rule, the window it last fired in; a worker claims a window
-- with a conditional UPDATE, so two never send the same window.
-- Compatible: the release before ignores the new column and tables.
ALTER TABLE runs ADD COLUMN timer_due_at TIMESTAMPTZ;
CREATE INDEX runs_failed ON runs (finished_at) WHERE status = 'FAILED';

CREATE TABLE timer_lateness (
    minute    TIMESTAMPTZ NOT NULL,
    worker_id TEXT NOT NULL,
    bucket    INTEGER NOT NULL,
    count     BIGINT NOT NULL,
    total     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (minute, worker_id, bucket)
);

CREATE TABLE alert_windows (
    key          TEXT PRIMARY KEY,
    fired_window BIGINT NOT NULL DEFAULT -1,
    seen_until   TIMESTAMPTZ,
    fired_at     TIMESTAMPTZ,
    -- the run of tidings.alerts that fired it, and what it found (JSON): the same run
    -- run again after a crash gets the same figures back instead of a refusal
    fired_by     TEXT,
    figures      TEXT
);
