-- Cron schedules.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: set_schedule_paused
UPDATE schedules SET paused = :paused, next_run_at = COALESCE(:next_run_at, next_run_at),
    updated_at = :now
WHERE id = :ref OR key = :ref
RETURNING *;

-- name: find_schedule
SELECT * FROM schedules WHERE id = :ref OR key = :ref;

-- name: upsert_schedule_by_id
-- Same cron and timezone: the schedule keeps its next tick (a restart must not skip
-- or repeat one); a new cron or timezone starts from the next tick after now.
INSERT INTO schedules (id, task_id, kind, cron, timezone, key, payload, catch_up,
                       next_run_at, last_run_at, created_at, updated_at)
VALUES (:id, :task_id, :kind, :cron, :timezone, :key, :payload, :catch_up,
        :next_run_at, NULL, :now, :now)
ON CONFLICT (id) DO UPDATE
SET task_id = excluded.task_id, kind = excluded.kind, payload = excluded.payload,
    catch_up = excluded.catch_up, updated_at = excluded.updated_at,
    next_run_at = CASE WHEN schedules.cron = excluded.cron
                        AND schedules.timezone = excluded.timezone
                       THEN schedules.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, timezone = excluded.timezone
RETURNING *;

-- name: upsert_schedule_by_key
INSERT INTO schedules (id, task_id, kind, cron, timezone, key, payload, catch_up,
                       next_run_at, last_run_at, created_at, updated_at)
VALUES (:id, :task_id, :kind, :cron, :timezone, :key, :payload, :catch_up,
        :next_run_at, NULL, :now, :now)
ON CONFLICT (key) WHERE key IS NOT NULL DO UPDATE
SET task_id = excluded.task_id, kind = excluded.kind, payload = excluded.payload,
    catch_up = excluded.catch_up, updated_at = excluded.updated_at,
    next_run_at = CASE WHEN schedules.cron = excluded.cron
                        AND schedules.timezone = excluded.timezone
                       THEN schedules.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, timezone = excluded.timezone
RETURNING *;

-- name: delete_schedule
DELETE FROM schedules WHERE id = :ref OR key = :ref RETURNING id;

-- name: prune_static_schedules
DELETE FROM schedules
WHERE kind = 'static' AND task_id NOT IN (SELECT value FROM json_each(:keep));

-- name: list_schedules
SELECT * FROM schedules ORDER BY next_run_at, id;

-- name: due_schedules
SELECT * FROM schedules
WHERE paused = 0 AND next_run_at <= :now AND task_id IN (SELECT value FROM json_each(:task_ids))
ORDER BY next_run_at
LIMIT :limit;

-- name: next_schedule_due
SELECT MIN(next_run_at) AS due FROM schedules
WHERE paused = 0 AND task_id IN (SELECT value FROM json_each(:task_ids));

-- name: advance_schedule
-- compare-and-set: only the scheduler that still sees the tick it planned from wins
UPDATE schedules
SET next_run_at = :next_run_at, last_run_at = :last_run_at, updated_at = :now
WHERE id = :id AND next_run_at = :due;


-- ---- flow control: concurrency and rate limits (migration 0004) ----------------------
