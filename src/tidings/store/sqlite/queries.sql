-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: find_idempotent
SELECT run_id FROM idempotency_keys
WHERE task_id = :task_id AND key = :key AND expires_at > :now;

-- name: upsert_idempotent
INSERT INTO idempotency_keys (task_id, key, run_id, expires_at)
VALUES (:task_id, :key, :run_id, :expires_at)
ON CONFLICT (task_id, key) DO UPDATE
SET run_id = excluded.run_id, expires_at = excluded.expires_at;

-- name: insert_run
INSERT INTO runs (id, task_id, queue, priority, status, payload, created_at, run_at,
                  due_at, idempotency_key, tags, replay_of)
VALUES (:id, :task_id, :queue, :priority, 'QUEUED', :payload, :now, :run_at,
        :run_at, :idempotency_key, :tags, :replay_of);

-- name: get_run
SELECT * FROM runs WHERE id = :id;

-- name: get_steps
SELECT * FROM steps WHERE run_id = :run_id ORDER BY seq;

-- name: list_runs
SELECT * FROM runs
WHERE (:task_id IS NULL OR task_id = :task_id)
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: count_runs
SELECT status, COUNT(*) AS n FROM runs GROUP BY status;

-- name: cancel_run
UPDATE runs
SET status = 'CANCELLED', finished_at = :now, due_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE id = :id AND status IN ('QUEUED', 'WAITING', 'RUNNING');

-- name: run_status
SELECT status FROM runs WHERE id = :id;

-- name: get_logs
SELECT * FROM run_logs WHERE run_id = :run_id ORDER BY rowid;

-- name: insert_log
INSERT INTO run_logs (run_id, at, level, message, attempt)
VALUES (:run_id, :at, :level, :message, :attempt);

-- name: claim_runs
UPDATE runs
SET status = 'RUNNING', worker_id = :worker_id, lease_token = :token,
    due_at = :lease_until, started_at = COALESCE(started_at, :now),
    reclaims = reclaims + (status = 'RUNNING')
WHERE id IN (
    SELECT id FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= :now
      AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
    ORDER BY priority DESC, due_at
    LIMIT :limit
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at;

-- name: steps_of_runs
SELECT * FROM steps WHERE run_id IN (SELECT value FROM json_each(:run_ids)) ORDER BY seq;

-- name: next_due
SELECT MIN(due_at) AS due FROM runs
WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
  AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)));

-- name: renew_leases
UPDATE runs SET due_at = :lease_until
WHERE status = 'RUNNING' AND worker_id = :worker_id
RETURNING id;

-- name: check_lease
-- a read, not an update: moving the row in two indexes on every step cost more than
-- the step itself; the heartbeat keeps the lease alive
SELECT 1 AS held FROM runs WHERE id = :run_id AND lease_token = :token AND status = 'RUNNING';

-- name: upsert_step
INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                   started_at, finished_at, wake_at)
VALUES (:run_id, :name,
        (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = :run_id),
        :kind, :status, :attempts, :result, :error, :started_at, :finished_at, :wake_at)
ON CONFLICT (run_id, name) DO UPDATE
SET kind = excluded.kind, status = excluded.status, attempts = excluded.attempts,
    result = excluded.result, error = excluded.error,
    started_at = COALESCE(steps.started_at, excluded.started_at),
    finished_at = excluded.finished_at, wake_at = excluded.wake_at;

-- name: finish_attempt
UPDATE runs
SET status = :status, due_at = :due_at, result = :result, error = :error,
    run_at = CASE WHEN :status = 'QUEUED' THEN :due_at ELSE run_at END,
    attempt = COALESCE(:attempt, attempt),
    body_attempts = COALESCE(:body_attempts, body_attempts),
    finished_at = :finished_at, worker_id = NULL, lease_token = NULL, reclaims = 0
WHERE id = :run_id AND lease_token = :token AND status = 'RUNNING';

-- name: release
UPDATE runs
SET status = 'QUEUED', due_at = :now, worker_id = NULL, lease_token = NULL
WHERE id = :run_id AND lease_token = :token AND status = 'RUNNING';

-- name: savepoint
-- savepoints isolate each write of a group commit (write_batch)
SAVEPOINT tidings_op;

-- name: rollback_to_savepoint
ROLLBACK TO SAVEPOINT tidings_op;

-- name: release_savepoint
RELEASE SAVEPOINT tidings_op;
