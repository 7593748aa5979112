-- Named queries of the HTTP API (API keys, delayed events, run pages, queue metrics).

-- name: insert_api_key
INSERT INTO api_keys (id, environment, name, scope, key_hash, hint, created_at)
VALUES (:id, :environment, :name, :scope, :key_hash, :hint, :now);

-- name: list_api_keys
SELECT * FROM api_keys WHERE environment = :environment ORDER BY created_at, id;

-- name: find_api_key
SELECT * FROM api_keys WHERE key_hash = :key_hash;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now
WHERE environment = :environment AND (id = :ref OR hint = :ref) AND revoked_at IS NULL
RETURNING id;

-- name: insert_scheduled_event
-- an id already delivered (in events) or already scheduled is not accepted again
INSERT INTO scheduled_events (id, name, data, ts, deliver_at, created_at)
SELECT :id, :name, :data, :ts, :deliver_at, :now
WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = :id)
ON CONFLICT (id) DO NOTHING;

-- name: get_scheduled_event
SELECT * FROM scheduled_events WHERE id = :id;

-- name: due_scheduled_events
SELECT * FROM scheduled_events WHERE deliver_at <= :now
ORDER BY deliver_at, id LIMIT :limit;

-- name: next_scheduled_event
SELECT MIN(deliver_at) AS due FROM scheduled_events;

-- name: take_scheduled_event
DELETE FROM scheduled_events WHERE id = :id;

-- name: list_runs_page
-- newest first; the cursor is the (created_at, id) of the last run of the previous page
SELECT * FROM runs
WHERE (:task_id IS NULL OR task_id = :task_id)
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:before_created IS NULL OR created_at < :before_created
       OR (created_at = :before_created AND id < :before_id))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: reschedule_run
-- a delayed run that has not started yet moves to another time (never a retry or a waiter)
UPDATE runs SET run_at = :run_at, due_at = :run_at
WHERE id = :id AND status = 'QUEUED' AND started_at IS NULL AND due_at > :now;

-- name: queue_stats
-- runs due now and not yet claimed, and the due time of the oldest of them
SELECT COUNT(*) AS depth, MIN(due_at) AS oldest FROM runs
WHERE status = 'QUEUED' AND due_at <= :now;

-- name: mark_delivery_sandboxed
UPDATE deliveries SET sandboxed = 1 WHERE id = :id;

-- name: inbox_marker
-- inbox_changes only grows (a recipient's rows go only with the recipient): its largest
-- rowid moves on every change of any inbox, and reading it is one index step
SELECT COALESCE(MAX(rowid), 0) AS marker FROM inbox_changes;

-- name: inbox_last_seq
SELECT seq FROM inbox_sequences WHERE recipient_id = :recipient_id;

-- name: get_inbox_items
SELECT * FROM inbox_items
WHERE recipient_id = :recipient_id AND id IN (SELECT value FROM json_each(:ids));
