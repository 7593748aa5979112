-- The plain claim (no flow-limited tasks), in two variants so neither carries an
-- "all queues or these queues" OR-branch. The store sends these unprepared: a prepared
-- statement turns generic after five executions, and PostgreSQL's generic plan for
-- "due_at <= $n ORDER BY priority, due_at LIMIT $m" sorts every due row to take a
-- few (O(backlog) per claim). With the values in hand the planner walks runs_claim in
-- order and stops after LIMIT rows.
--
-- SKIP LOCKED: concurrent claimers take disjoint batches instead of queueing on the
-- same rows; a row another claimer just took fails the re-checked due_at and is skipped.
-- "fresh": the run was never started, so it has no steps to load.

-- name: claim_due
UPDATE runs
SET status = 'RUNNING', worker_id = %(worker_id)s, lease_token = %(token)s,
    due_at = %(lease_until)s, started_at = COALESCE(runs.started_at, %(now)s),
    reclaims = runs.reclaims + (runs.status = 'RUNNING')::int
FROM (
    SELECT id, started_at IS NULL AS fresh FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE runs.id = picked.id
RETURNING runs.id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, picked.fresh;

-- name: claim_due_in_queues
UPDATE runs
SET status = 'RUNNING', worker_id = %(worker_id)s, lease_token = %(token)s,
    due_at = %(lease_until)s, started_at = COALESCE(runs.started_at, %(now)s),
    reclaims = runs.reclaims + (runs.status = 'RUNNING')::int
FROM (
    SELECT id, started_at IS NULL AS fresh FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
      AND queue = ANY(%(queues)s::text[])
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE runs.id = picked.id
RETURNING runs.id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, picked.fresh;
