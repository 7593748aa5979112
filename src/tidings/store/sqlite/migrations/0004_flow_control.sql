-- compatible: yes
-- Flow control: the keys a run's concurrency and rate limits count per, set when the
-- run is triggered (NULL: the run is not limited).

ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
ALTER TABLE runs ADD COLUMN rate_key TEXT;

-- active runs of limited tasks: claim candidates, and the RUNNING ones holding slots;
-- unlimited runs never enter it
CREATE INDEX runs_flow ON runs (task_id, concurrency_key)
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
      AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL);
-- starts of rate-limited runs, counted over the sliding window
CREATE INDEX runs_rate_starts ON runs (task_id, rate_key, started_at)
    WHERE rate_key IS NOT NULL;
