-- Alert windows and timer lateness (tables from migration 0022).
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: add_timer_lateness
INSERT INTO timer_lateness (minute, worker_id, bucket, count, total)
VALUES (%(minute)s, %(worker_id)s, %(bucket)s, %(count)s, %(total)s)
ON CONFLICT (minute, worker_id, bucket) DO UPDATE
SET count = timer_lateness.count + excluded.count,
    total = timer_lateness.total + excluded.total;

-- name: timer_lateness_since
SELECT bucket, SUM(count) AS count, SUM(total) AS total FROM timer_lateness
WHERE minute >= %(since)s
GROUP BY bucket;

-- name: fold_timer_lateness
INSERT INTO timer_lateness (minute, worker_id, bucket, count, total)
SELECT %(folded)s, '*', bucket, SUM(count), SUM(total) FROM timer_lateness
WHERE minute > %(folded)s AND minute < %(before)s
GROUP BY bucket
ON CONFLICT (minute, worker_id, bucket) DO UPDATE
SET count = timer_lateness.count + excluded.count,
    total = timer_lateness.total + excluded.total;

-- name: drop_folded_timer_lateness
DELETE FROM timer_lateness WHERE minute > %(folded)s AND minute < %(before)s;

-- name: open_alert_window
INSERT INTO alert_windows (key) VALUES (%(key)s) ON CONFLICT (key) DO NOTHING;

-- name: claim_alert_window
-- a second worker's UPDATE waits for the first's row lock, then sees the window taken
UPDATE alert_windows
SET fired_window = %(window)s, seen_until = %(seen_until)s, fired_at = %(now)s,
    fired_by = %(run_id)s, figures = %(figures)s
WHERE key = %(key)s AND fired_window < %(window)s;

-- name: alert_window
SELECT fired_window, seen_until, fired_by, figures FROM alert_windows WHERE key = %(key)s;

-- name: alerts_last_fired
SELECT key, fired_at FROM alert_windows WHERE fired_at IS NOT NULL;

-- name: count_failed_runs
SELECT COUNT(*) AS n FROM runs
WHERE status = 'FAILED' AND finished_at > %(since)s AND finished_at <= %(until)s
  AND (%(tasks)s::text[] IS NULL OR task_id = ANY(%(tasks)s::text[]))
  AND NOT task_id = ANY(%(exclude)s::text[]);

-- name: latest_failed_runs
SELECT id, task_id, error, finished_at FROM runs
WHERE status = 'FAILED' AND finished_at > %(since)s AND finished_at <= %(until)s
  AND (%(tasks)s::text[] IS NULL OR task_id = ANY(%(tasks)s::text[]))
  AND NOT task_id = ANY(%(exclude)s::text[])
ORDER BY finished_at DESC
LIMIT %(limit)s;

-- name: delivery_outcomes
-- failed: the provider could not take the message (bounces and complaints are the
-- address's, not the provider's)
SELECT provider, COUNT(*) FILTER (WHERE status = 'failed') AS failed, COUNT(*) AS finished
FROM deliveries
WHERE created_at >= %(since)s AND provider IS NOT NULL
  AND status IN ('sent', 'delivered', 'failed', 'bounced', 'complained')
  AND (%(provider)s::text IS NULL OR provider = %(provider)s::text)
GROUP BY provider;
