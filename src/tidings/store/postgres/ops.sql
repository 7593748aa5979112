-- What tidings doctor asks.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

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

-- name: database_clock
-- The server's clock now (not at the start of the transaction): database time
SELECT clock_timestamp() AS now;
