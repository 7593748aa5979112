-- Operations: trace context, health checks (tidings doctor) and backup verification.

-- name: set_traceparent
UPDATE runs SET traceparent = %(traceparent)s WHERE id = %(id)s;

-- name: get_traceparent
SELECT traceparent FROM runs WHERE id = %(id)s;

-- name: database_now
SELECT now() AS now;

-- name: expired_leases
-- RUNNING runs whose lease ran out before %(before)s: no live worker is renewing them
SELECT id, task_id, queue, status, due_at FROM runs
WHERE status = 'RUNNING' AND due_at < %(before)s
ORDER BY due_at LIMIT %(limit)s;

-- name: overdue_runs
-- QUEUED or WAITING runs that fell due long ago and no worker has picked up
SELECT id, task_id, queue, status, due_at FROM runs
WHERE status IN ('QUEUED', 'WAITING') AND due_at < %(before)s
ORDER BY due_at LIMIT %(limit)s;

-- name: count_expired_leases
SELECT COUNT(*) AS n FROM runs WHERE status = 'RUNNING' AND due_at < %(before)s;

-- name: count_overdue_runs
SELECT COUNT(*) AS n FROM runs WHERE status IN ('QUEUED', 'WAITING') AND due_at < %(before)s;
