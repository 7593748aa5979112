-- Named queries of the HTTP API (API keys, delayed events, run pages, queue metrics).
-- Parameters are %(name)s (psycopg); a parameter that may be NULL is cast.

-- name: insert_api_key
INSERT INTO api_keys (id, environment, name, scope, key_hash, hint, created_at)
VALUES (%(id)s, %(environment)s, %(name)s, %(scope)s, %(key_hash)s, %(hint)s, %(now)s);

-- name: list_api_keys
SELECT * FROM api_keys WHERE environment = %(environment)s ORDER BY created_at, id;

-- name: find_api_key
SELECT * FROM api_keys WHERE key_hash = %(key_hash)s;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = %(now)s
WHERE environment = %(environment)s AND (id = %(ref)s OR hint = %(ref)s) AND revoked_at IS NULL
RETURNING id;

-- name: insert_scheduled_event
-- an id already delivered (in events) or already scheduled is not accepted again
INSERT INTO scheduled_events (id, name, data, ts, deliver_at, created_at)
SELECT %(id)s::text, %(name)s::text, %(data)s::text, %(ts)s::timestamptz,
       %(deliver_at)s::timestamptz, %(now)s::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = %(id)s)
ON CONFLICT (id) DO NOTHING;

-- name: get_scheduled_event
SELECT * FROM scheduled_events WHERE id = %(id)s;

-- name: due_scheduled_events
SELECT * FROM scheduled_events WHERE deliver_at <= %(now)s
ORDER BY deliver_at, id LIMIT %(limit)s;

-- name: next_scheduled_event
SELECT MIN(deliver_at) AS due FROM scheduled_events;

-- name: take_scheduled_event
DELETE FROM scheduled_events WHERE id = %(id)s;

-- name: list_runs_page
-- newest first; the cursor is the (created_at, id) of the last run of the previous page
SELECT * FROM runs
WHERE (%(task_id)s::text IS NULL OR task_id = %(task_id)s)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(before_created)s::timestamptz IS NULL OR created_at < %(before_created)s
       OR (created_at = %(before_created)s AND id < %(before_id)s))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: reschedule_run
-- a delayed run that has not started yet moves to another time (never a retry or a waiter)
UPDATE runs SET run_at = %(run_at)s, due_at = %(run_at)s
WHERE id = %(id)s AND status = 'QUEUED' AND started_at IS NULL AND due_at > %(now)s;

-- name: queue_stats
-- runs due now and not yet claimed, and the due time of the oldest of them
SELECT COUNT(*) AS depth, MIN(due_at) AS oldest FROM runs
WHERE status = 'QUEUED' AND due_at <= %(now)s;

-- name: mark_delivery_sandboxed
UPDATE deliveries SET sandboxed = TRUE WHERE id = %(id)s;

-- name: inbox_marker
-- (streams on PostgreSQL LISTEN for inbox changes instead of polling this)
SELECT COALESCE(SUM(seq), 0) AS marker FROM inbox_sequences;

-- name: inbox_last_seq
SELECT seq FROM inbox_sequences WHERE recipient_id = %(recipient_id)s;

-- name: get_inbox_items
SELECT * FROM inbox_items WHERE recipient_id = %(recipient_id)s AND id = ANY(%(ids)s::text[]);
