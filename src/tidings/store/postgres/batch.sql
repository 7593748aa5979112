-- Group commit as set-based statements (PostgresRuns.write_batch): the ends of many
-- attempts in one UPDATE and their steps in one INSERT, instead of statements per write.
-- Rows arrive as a JSON array (jsonb_to_recordset); times as ISO 8601 text.

-- name: finish_attempts
-- finish_attempt for many runs: each row fenced by its lease token; returns the runs it
-- ended (the others' leases are gone: cancelled or reclaimed).
UPDATE runs
SET status = o.status, due_at = o.due_at, result = o.result, error = o.error,
    run_at = CASE WHEN o.status = 'QUEUED' THEN o.due_at ELSE runs.run_at END,
    attempt = COALESCE(o.attempt, runs.attempt),
    body_attempts = COALESCE(o.body_attempts, runs.body_attempts),
    finished_at = o.finished_at, worker_id = NULL, lease_token = NULL, reclaims = 0
FROM jsonb_to_recordset(%(ops)s::jsonb) AS o(
    run_id text, token text, status text, due_at timestamptz, result text, error text,
    attempt int, body_attempts int, finished_at timestamptz)
WHERE runs.id = o.run_id AND runs.lease_token = o.token AND runs.status = 'RUNNING'
RETURNING runs.id;

-- name: save_steps
-- upsert_step for many steps. A row with a token is fenced by it, as check_lease fences
-- a step; a row without one belongs to an attempt whose end finish_attempts has just
-- written in this transaction (which holds that run's row). New steps of one run are
-- numbered in the order given. Returns the runs whose steps were written.
WITH given AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.run_id ORDER BY s.ord) AS nth
    FROM jsonb_to_recordset(%(steps)s::jsonb) AS s(
        ord int, run_id text, token text, name text, kind text, status text, attempts int,
        result text, error text, started_at timestamptz, finished_at timestamptz,
        wake_at timestamptz)
),
held AS (
    SELECT g.* FROM given g
    WHERE g.token IS NULL
       OR EXISTS (SELECT 1 FROM runs r
                  WHERE r.id = g.run_id AND r.lease_token = g.token AND r.status = 'RUNNING')
),
saved AS (
    INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                       started_at, finished_at, wake_at)
    SELECT h.run_id, h.name,
           (SELECT COALESCE(MAX(seq), 0) FROM steps WHERE steps.run_id = h.run_id) + h.nth,
           h.kind, h.status, h.attempts, h.result, h.error, h.started_at, h.finished_at,
           h.wake_at
    FROM held h
    ON CONFLICT (run_id, name) DO UPDATE
    SET kind = excluded.kind, status = excluded.status, attempts = excluded.attempts,
        result = excluded.result, error = excluded.error,
        started_at = COALESCE(steps.started_at, excluded.started_at),
        finished_at = excluded.finished_at, wake_at = excluded.wake_at
    -- a completed step is final (an event may have completed a wait meanwhile)
    WHERE steps.status <> 'completed'
)
SELECT DISTINCT run_id FROM held;
