-- Alert windows and timer lateness (tables from migration 0022).
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: add_timer_lateness
INSERT INTO timer_lateness (minute, worker_id, bucket, count, total)
VALUES (:minute, :worker_id, :bucket, :count, :total)
ON CONFLICT (minute, worker_id, bucket) DO UPDATE
SET count = timer_lateness.count + excluded.count,
    total = timer_lateness.total + excluded.total;

-- name: timer_lateness_since
SELECT bucket, SUM(count) AS count, SUM(total) AS total FROM timer_lateness
WHERE minute >= :since
GROUP BY bucket;

-- name: fold_timer_lateness
-- (WHERE before ON CONFLICT: SQLite's parser needs it after an INSERT ... SELECT)
INSERT INTO timer_lateness (minute, worker_id, bucket, count, total)
SELECT :folded, '*', bucket, SUM(count), SUM(total) FROM timer_lateness
WHERE minute > :folded AND minute < :before
GROUP BY bucket
ON CONFLICT (minute, worker_id, bucket) DO UPDATE
SET count = timer_lateness.count + excluded.count,
    total = timer_lateness.total + excluded.total;

-- name: drop_folded_timer_lateness
DELETE FROM timer_lateness WHERE minute > :folded AND minute < :before;

-- name: open_alert_window
INSERT INTO alert_windows (key) VALUES (:key) ON CONFLICT (key) DO NOTHING;

-- name: claim_alert_window
UPDATE alert_windows
SET fired_window = :window, seen_until = :seen_until, fired_at = :now, fired_by = :run_id,
    figures = :figures
WHERE key = :key AND fired_window < :window;

-- name: alert_window
SELECT fired_window, seen_until, fired_by, figures FROM alert_windows WHERE key = :key;

-- name: alerts_last_fired
SELECT key, fired_at FROM alert_windows WHERE fired_at IS NOT NULL;

-- name: count_failed_runs
SELECT COUNT(*) AS n FROM runs INDEXED BY runs_failed
WHERE status = 'FAILED' AND finished_at > :since AND finished_at <= :until
  AND (:tasks IS NULL OR task_id IN (SELECT value FROM json_each(:tasks)))
  AND task_id NOT IN (SELECT value FROM json_each(:exclude));

-- name: latest_failed_runs
SELECT id, task_id, error, finished_at FROM runs INDEXED BY runs_failed
WHERE status = 'FAILED' AND finished_at > :since AND finished_at <= :until
  AND (:tasks IS NULL OR task_id IN (SELECT value FROM json_each(:tasks)))
  AND task_id NOT IN (SELECT value FROM json_each(:exclude))
ORDER BY finished_at DESC
LIMIT :limit;

-- name: delivery_outcomes
-- failed: the provider could not take the message (bounces and complaints are the
-- address's, not the provider's)
SELECT provider, SUM(status = 'failed') AS failed, COUNT(*) AS finished
FROM deliveries
WHERE created_at >= :since AND provider IS NOT NULL
  AND status IN ('sent', 'delivered', 'failed', 'bounced', 'complained')
  AND (:provider IS NULL OR provider = :provider)
GROUP BY provider;
