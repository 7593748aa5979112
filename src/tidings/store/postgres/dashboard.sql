-- Dashboard queries (PostgreSQL), run by store/db/dashboard.py.
-- One run-list query per index that can drive it, as in the SQLite file (a
-- generic plan cannot use an index for an optional 'x IS NULL OR ...' filter).

-- name: dash_begin
-- every dashboard transaction starts with this: plan each query for its parameters.
-- A generic plan (psycopg prepares a statement after a few runs) cannot tell which
-- index a filter can use and scans runs_created for a rare status.
SET LOCAL plan_cache_mode = force_custom_plan;

-- name: dash_runs
SELECT id, task_id, queue, priority, status, payload, result, error, attempt, created_at, started_at, finished_at, due_at, run_at, idempotency_key, tags, replay_of, parent_run_id
FROM runs
WHERE 1 = 1
  AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
  AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_runs_task
SELECT id, task_id, queue, priority, status, payload, result, error, attempt, created_at, started_at, finished_at, due_at, run_at, idempotency_key, tags, replay_of, parent_run_id
FROM runs
WHERE task_id = %(task_id)s
  AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
  AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_runs_status
SELECT id, task_id, queue, priority, status, payload, result, error, attempt, created_at, started_at, finished_at, due_at, run_at, idempotency_key, tags, replay_of, parent_run_id
FROM runs
WHERE status = %(status)s
  AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
  AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_runs_task_status
SELECT id, task_id, queue, priority, status, payload, result, error, attempt, created_at, started_at, finished_at, due_at, run_at, idempotency_key, tags, replay_of, parent_run_id
FROM runs
WHERE task_id = %(task_id)s AND status = %(status)s
  AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
  AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_runs_key
-- the idempotency-key filter: a handful of rows
SELECT id, task_id, queue, priority, status, payload, result, error, attempt, created_at, started_at, finished_at, due_at, run_at, idempotency_key, tags, replay_of, parent_run_id
FROM runs
WHERE idempotency_key = %(key)s
  AND (%(task_id)s::text IS NULL OR task_id = %(task_id)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
  AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_count
-- capped: the list shows '10,000+' rather than count a million rows
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM runs
    WHERE status = %(status)s
      AND created_at >= %(since)s AND created_at < %(until)s
      AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
      AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
    LIMIT %(cap)s
) AS capped;

-- name: dash_count_task
-- capped: the list shows '10,000+' rather than count a million rows
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM runs
    WHERE task_id = %(task_id)s AND status = %(status)s
      AND created_at >= %(since)s AND created_at < %(until)s
      AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
      AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
    LIMIT %(cap)s
) AS capped;

-- name: dash_count_tag
-- no index on tags: the statuses of the newest matches (up to the cap) instead
SELECT status, COUNT(*) AS n FROM (
    SELECT status FROM runs
    WHERE strpos(tags, %(needle)s) > 0
      AND (%(task_id)s::text IS NULL OR task_id = %(task_id)s)
      AND (%(status)s::text IS NULL OR status = %(status)s)
      AND created_at >= %(since)s AND created_at < %(until)s
    ORDER BY created_at DESC
    LIMIT %(cap)s
) AS newest
GROUP BY status;

-- name: dash_count_key
SELECT status, COUNT(*) AS n FROM runs
WHERE idempotency_key = %(key)s
  AND (%(task_id)s::text IS NULL OR task_id = %(task_id)s)
  AND created_at >= %(since)s AND created_at < %(until)s
  AND (%(cursor_id)s::text IS NULL OR created_at < %(cursor_at)s OR id < %(cursor_id)s)
  AND (%(needle)s::text IS NULL OR strpos(tags, %(needle)s) > 0)
GROUP BY status;

-- name: dash_replays
SELECT id, status, created_at FROM runs WHERE replay_of = %(id)s ORDER BY created_at LIMIT 50;

-- name: dash_run_parent
SELECT parent_run_id, idempotency_key FROM runs WHERE id = %(id)s;

-- name: dash_run_exists
SELECT id, task_id, status FROM runs WHERE id = %(id)s;

-- name: dash_run_waits
SELECT step, event_name, match_paths, match_key, since FROM event_waits
WHERE run_id = %(run_id)s ORDER BY step;

-- name: dash_run_resumes
SELECT event_id, step, at FROM event_resumes WHERE run_id = %(run_id)s ORDER BY at;

-- name: dash_run_fingerprint
-- what the run page shows changes only when one of these does
SELECT r.status, r.attempt, r.due_at, r.finished_at,
       (SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id) AS steps,
       (SELECT MAX(COALESCE(s.finished_at, s.started_at)) FROM steps s
        WHERE s.run_id = r.id) AS step_at,
       (SELECT SUM(s.attempts) FROM steps s WHERE s.run_id = r.id) AS step_attempts,
       (SELECT COUNT(*) FROM run_logs l WHERE l.run_id = r.id) AS logs
FROM runs r WHERE r.id = %(id)s;

-- name: dash_events
-- all events, newest first: a range of events_received that starts at the cursor (the
-- first page starts past the newest), so a deep page costs what the first does. Two
-- variants, as an "any name or this name" OR-branch would leave no index to walk.
SELECT id, name, data, ts, received_at, run_ids FROM events
WHERE (received_at, id) < (COALESCE(%(cursor_at)s::timestamptz, 'infinity'),
                           COALESCE(%(cursor_id)s::text, ''))
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_events_name
-- one event name's events, newest first: a range of events_name_received
SELECT id, name, data, ts, received_at, run_ids FROM events
WHERE name = %(name)s
  AND (received_at, id) < (COALESCE(%(cursor_at)s::timestamptz, 'infinity'),
                           COALESCE(%(cursor_id)s::text, ''))
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s;

-- name: dash_event
SELECT id, name, data, ts, received_at, run_ids FROM events WHERE id = %(id)s;

-- name: dash_event_resumes
SELECT event_id, run_id, step, at FROM event_resumes
WHERE event_id = ANY(%(ids)s::text[])
ORDER BY at;

-- name: dash_runs_status_of
SELECT id, task_id, status FROM runs WHERE id = ANY(%(ids)s::text[]);

-- name: dash_task_stats
-- per task and final status, the runs that finished since %(since)s
SELECT task_id, status, COUNT(*) AS n FROM runs
WHERE finished_at >= %(since)s
GROUP BY task_id, status;

-- name: dash_finished_buckets
SELECT floor(extract(epoch FROM finished_at - %(start)s) * 1000000 / %(bucket)s)::bigint AS b, status, COUNT(*) AS n FROM runs
WHERE finished_at >= %(start)s
GROUP BY b, status;

-- name: dash_arrivals
-- runs that became due in the window, per bucket (the queue's inflow)
SELECT floor(extract(epoch FROM run_at - %(start)s) * 1000000 / %(bucket)s)::bigint AS b, COUNT(*) AS n FROM runs
WHERE created_at >= %(start)s - %(lookback)s * interval '1 microsecond' AND run_at >= %(start)s AND run_at <= %(now)s
GROUP BY b;

-- name: dash_departures
-- those same runs leaving the queue: started, or cancelled before they started
SELECT floor(extract(epoch FROM COALESCE(started_at, finished_at) - %(start)s) * 1000000 / %(bucket)s)::bigint AS b, COUNT(*) AS n FROM runs
WHERE created_at >= %(start)s - %(lookback)s * interval '1 microsecond' AND run_at >= %(start)s AND run_at <= %(now)s
  AND COALESCE(started_at, finished_at) IS NOT NULL
GROUP BY b;

-- name: dash_queue_now
SELECT COUNT(*) AS n FROM (
    SELECT 1 FROM runs WHERE status = 'QUEUED' AND run_at <= %(now)s LIMIT %(cap)s
) AS capped;

-- name: dash_slowest
SELECT task_id, COUNT(*) AS n, AVG(extract(epoch FROM finished_at - started_at) * 1000000) AS avg_us,
       MAX(extract(epoch FROM finished_at - started_at) * 1000000) AS max_us
FROM runs
WHERE finished_at >= %(since)s AND status = 'COMPLETED' AND started_at IS NOT NULL
GROUP BY task_id
ORDER BY avg_us DESC
LIMIT %(limit)s;

-- name: dash_retry_queued
-- a run backing off before a retry, or triggered with a delay: due now
UPDATE runs SET run_at = %(now)s, due_at = %(now)s
WHERE id = %(id)s AND status = 'QUEUED' AND due_at > %(now)s;

-- name: dash_wake_sleep
-- a run asleep in ctx.sleep: its sleep ends now
UPDATE steps SET wake_at = %(now)s
WHERE run_id = %(id)s AND kind = 'sleep' AND status = 'waiting';

-- name: dash_wake_run
UPDATE runs SET due_at = %(now)s
WHERE id = %(id)s AND status = 'WAITING' AND due_at > %(now)s;

-- name: dash_run_deliveries
-- the notifications a run sent, with their deliveries (index from migration 0010)
SELECT d.* FROM notifications n JOIN deliveries d ON d.notification_id = n.id
WHERE n.run_id = %(run_id)s
ORDER BY d.created_at, d.channel;

-- name: dash_notification_run
SELECT run_id FROM notifications WHERE id = %(id)s;

-- name: dash_recipients
SELECT * FROM recipients
WHERE (%(q)s::text IS NULL OR id = %(q)s OR email = %(q)s OR phone = %(q)s)
  AND (%(after)s::text IS NULL OR id > %(after)s)
ORDER BY id
LIMIT %(limit)s;

-- name: dash_failing_providers
SELECT channel, COALESCE(provider, '') AS provider, COUNT(*) AS n FROM deliveries
WHERE created_at >= %(since)s AND status IN ('failed', 'bounced', 'complained')
GROUP BY channel, provider
ORDER BY n DESC
LIMIT 20;
