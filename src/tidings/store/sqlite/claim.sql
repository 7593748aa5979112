-- The plain claim (no flow-limited tasks), in two variants so neither carries an
-- "all queues or these queues" OR-branch, as in the PostgreSQL store. Writers are
-- serialised (BEGIN IMMEDIATE), so no row locks are needed. SQLite's RETURNING cannot
-- see the row as it was, so "fresh" (never started: no steps to load) is always 0 here
-- and the store loads steps for every claimed run (an in-process call, nearly free).

-- name: claim_due
UPDATE runs
SET status = 'RUNNING', worker_id = :worker_id, lease_token = :token,
    due_at = :lease_until, started_at = COALESCE(started_at, :now),
    reclaims = reclaims + (status = 'RUNNING')
WHERE id IN (
    SELECT id FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= :now
    ORDER BY priority DESC, due_at
    LIMIT :limit
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, 0 AS fresh;

-- name: claim_due_in_queues
UPDATE runs
SET status = 'RUNNING', worker_id = :worker_id, lease_token = :token,
    due_at = :lease_until, started_at = COALESCE(started_at, :now),
    reclaims = reclaims + (status = 'RUNNING')
WHERE id IN (
    SELECT id FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= :now
      AND queue IN (SELECT value FROM json_each(:queues))
    ORDER BY priority DESC, due_at
    LIMIT :limit
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, 0 AS fresh;
