-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: find_idempotent
-- find_idempotent and upsert_idempotent keep the query names of the SQLite store;
-- create_run uses reserve_idempotent here, since writers are not serialised.
SELECT run_id FROM idempotency_keys
WHERE task_id = %(task_id)s AND key = %(key)s AND expires_at > %(now)s;

-- name: upsert_idempotent
INSERT INTO idempotency_keys (task_id, key, run_id, expires_at)
VALUES (%(task_id)s, %(key)s, %(run_id)s, %(expires_at)s)
ON CONFLICT (task_id, key) DO UPDATE
SET run_id = excluded.run_id, expires_at = excluded.expires_at;

-- name: reserve_idempotent
-- One statement that both takes the key and tells who holds it: a concurrent trigger
-- of the same key waits on the row lock, then sees the committed winner and keeps it.
-- An expired key is taken over.
INSERT INTO idempotency_keys AS k (task_id, key, run_id, expires_at)
VALUES (%(task_id)s, %(key)s, %(run_id)s, %(expires_at)s)
ON CONFLICT (task_id, key) DO UPDATE
SET run_id = CASE WHEN k.expires_at > %(now)s THEN k.run_id ELSE excluded.run_id END,
    expires_at = CASE WHEN k.expires_at > %(now)s THEN k.expires_at
                      ELSE excluded.expires_at END
RETURNING run_id;

-- name: insert_run
INSERT INTO runs (id, task_id, queue, priority, status, payload, created_at, run_at,
                  due_at, idempotency_key, tags, replay_of)
VALUES (%(id)s, %(task_id)s, %(queue)s, %(priority)s, 'QUEUED', %(payload)s, %(now)s,
        %(run_at)s, %(run_at)s, %(idempotency_key)s, %(tags)s, %(replay_of)s);

-- name: get_run
SELECT * FROM runs WHERE id = %(id)s;

-- name: get_steps
SELECT * FROM steps WHERE run_id = %(run_id)s ORDER BY seq;

-- name: list_runs
SELECT * FROM runs
WHERE (%(task_id)s::text IS NULL OR task_id = %(task_id)s::text)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: count_runs
SELECT status, COUNT(*) AS n FROM runs GROUP BY status;

-- name: cancel_run
UPDATE runs
SET status = 'CANCELLED', finished_at = %(now)s, due_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE id = %(id)s AND status IN ('QUEUED', 'WAITING', 'RUNNING');

-- name: run_status
SELECT status FROM runs WHERE id = %(id)s;

-- name: get_logs
SELECT * FROM run_logs WHERE run_id = %(run_id)s ORDER BY id;

-- name: insert_log
INSERT INTO run_logs (run_id, at, level, message, attempt)
VALUES (%(run_id)s, %(at)s, %(level)s, %(message)s, %(attempt)s);

-- name: claim_runs
-- SKIP LOCKED: concurrent claimers take disjoint batches instead of queueing on the
-- same rows; a row another claimer just took fails the re-checked due_at and is skipped.
UPDATE runs
SET status = 'RUNNING', worker_id = %(worker_id)s, lease_token = %(token)s,
    due_at = %(lease_until)s, started_at = COALESCE(started_at, %(now)s),
    reclaims = reclaims + (status = 'RUNNING')::int
WHERE id IN (
    SELECT id FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
      AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at;

-- name: steps_of_runs
SELECT * FROM steps WHERE run_id = ANY(%(run_ids)s::text[]) ORDER BY seq;

-- name: next_due
SELECT MIN(due_at) AS due FROM runs
WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]));

-- name: renew_leases
UPDATE runs SET due_at = %(lease_until)s
WHERE status = 'RUNNING' AND worker_id = %(worker_id)s
RETURNING id;

-- name: check_lease
-- a read, not an update: the heartbeat keeps the lease alive
SELECT 1 AS held FROM runs
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'RUNNING';

-- name: upsert_step
INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                   started_at, finished_at, wake_at)
VALUES (%(run_id)s, %(name)s,
        (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = %(run_id)s),
        %(kind)s, %(status)s, %(attempts)s, %(result)s, %(error)s,
        %(started_at)s::timestamptz, %(finished_at)s::timestamptz, %(wake_at)s::timestamptz)
ON CONFLICT (run_id, name) DO UPDATE
SET kind = excluded.kind, status = excluded.status, attempts = excluded.attempts,
    result = excluded.result, error = excluded.error,
    started_at = COALESCE(steps.started_at, excluded.started_at),
    finished_at = excluded.finished_at, wake_at = excluded.wake_at;

-- name: finish_attempt
UPDATE runs
SET status = %(status)s::text, due_at = %(due_at)s::timestamptz, result = %(result)s,
    error = %(error)s,
    run_at = CASE WHEN %(status)s::text = 'QUEUED' THEN %(due_at)s::timestamptz
                  ELSE run_at END,
    attempt = COALESCE(%(attempt)s::int, attempt),
    body_attempts = COALESCE(%(body_attempts)s::int, body_attempts),
    finished_at = %(finished_at)s::timestamptz, worker_id = NULL, lease_token = NULL,
    reclaims = 0
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'RUNNING';

-- name: release
UPDATE runs
SET status = 'QUEUED', due_at = %(now)s, worker_id = NULL, lease_token = NULL
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'RUNNING';

-- name: savepoint
-- savepoints isolate each write of a group commit (write_batch)
SAVEPOINT tidings_op;

-- name: rollback_to_savepoint
ROLLBACK TO SAVEPOINT tidings_op;

-- name: release_savepoint
RELEASE SAVEPOINT tidings_op;
