-- Cron schedules.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: set_schedule_paused
UPDATE schedules SET paused = %(paused)s, next_run_at = COALESCE(%(next_run_at)s::timestamptz, next_run_at),
    updated_at = %(now)s
WHERE id = %(ref)s OR key = %(ref)s
RETURNING *;

-- name: find_schedule
SELECT * FROM schedules WHERE id = %(ref)s OR key = %(ref)s;

-- name: upsert_schedule_by_id
-- Same cron and timezone: the schedule keeps its next tick (a restart must not skip
-- or repeat one); a new cron or timezone starts from the next tick after now.
INSERT INTO schedules AS s (id, task_id, kind, cron, timezone, key, payload, catch_up,
                            next_run_at, last_run_at, created_at, updated_at)
VALUES (%(id)s, %(task_id)s, %(kind)s, %(cron)s, %(timezone)s, %(key)s::text, %(payload)s,
        %(catch_up)s, %(next_run_at)s, NULL, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE
SET task_id = excluded.task_id, kind = excluded.kind, payload = excluded.payload,
    catch_up = excluded.catch_up, updated_at = excluded.updated_at,
    next_run_at = CASE WHEN s.cron = excluded.cron AND s.timezone = excluded.timezone
                       THEN s.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, timezone = excluded.timezone
RETURNING *;

-- name: upsert_schedule_by_key
INSERT INTO schedules AS s (id, task_id, kind, cron, timezone, key, payload, catch_up,
                            next_run_at, last_run_at, created_at, updated_at)
VALUES (%(id)s, %(task_id)s, %(kind)s, %(cron)s, %(timezone)s, %(key)s::text, %(payload)s,
        %(catch_up)s, %(next_run_at)s, NULL, %(now)s, %(now)s)
ON CONFLICT (key) WHERE key IS NOT NULL DO UPDATE
SET task_id = excluded.task_id, kind = excluded.kind, payload = excluded.payload,
    catch_up = excluded.catch_up, updated_at = excluded.updated_at,
    next_run_at = CASE WHEN s.cron = excluded.cron AND s.timezone = excluded.timezone
                       THEN s.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, timezone = excluded.timezone
RETURNING *;

-- name: delete_schedule
DELETE FROM schedules WHERE id = %(ref)s OR key = %(ref)s RETURNING id;

-- name: prune_static_schedules
DELETE FROM schedules WHERE kind = 'static' AND NOT (task_id = ANY(%(keep)s::text[]));

-- name: list_schedules
SELECT * FROM schedules ORDER BY next_run_at, id;

-- name: due_schedules
SELECT * FROM schedules
WHERE paused = FALSE AND next_run_at <= %(now)s AND task_id = ANY(%(task_ids)s::text[])
ORDER BY next_run_at
LIMIT %(limit)s;

-- name: next_schedule_due
SELECT MIN(next_run_at) AS due FROM schedules
WHERE paused = FALSE AND task_id = ANY(%(task_ids)s::text[]);

-- name: advance_schedule
-- compare-and-set: a concurrent scheduler blocks on the row lock, then re-reads the
-- row (READ COMMITTED) and matches nothing, so each tick fires once
UPDATE schedules
SET next_run_at = %(next_run_at)s, last_run_at = %(last_run_at)s::timestamptz,
    updated_at = %(now)s
WHERE id = %(id)s AND next_run_at = %(due)s;


-- ---- flow control: concurrency and rate limits (migration 0004) ----------------------
