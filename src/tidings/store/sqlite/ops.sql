-- What tidings doctor asks.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: database_now
-- SQLite runs in this process: its clock is this host's (microseconds since the epoch)
SELECT CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) AS now;

-- name: expired_leases
-- RUNNING runs whose lease ran out before :before: no live worker is renewing them
SELECT id, task_id, queue, status, due_at FROM runs
WHERE status = 'RUNNING' AND due_at < :before
ORDER BY due_at LIMIT :limit;

-- name: overdue_runs
-- QUEUED or WAITING runs that fell due before :before and no worker has picked up
SELECT id, task_id, queue, status, due_at FROM runs
WHERE status IN ('QUEUED', 'WAITING') AND due_at < :before
ORDER BY due_at LIMIT :limit;

-- name: count_expired_leases
SELECT COUNT(*) AS n FROM runs WHERE status = 'RUNNING' AND due_at < :before;

-- name: count_overdue_runs
SELECT COUNT(*) AS n FROM runs WHERE status IN ('QUEUED', 'WAITING') AND due_at < :before;
